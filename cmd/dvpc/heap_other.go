//go:build !linux

package main

const (
	hugeHeapBytes       = 0
	mountHugeHeapBytes  = 0
	exportHugeHeapBytes = 0
)

func hugeHeap(uintptr) {}
