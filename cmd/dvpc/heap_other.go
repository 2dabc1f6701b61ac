//go:build !linux

package main

const hugeHeapBytes = 0

func hugeHeap(uintptr) {}
