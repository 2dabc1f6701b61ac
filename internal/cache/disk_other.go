//go:build !unix

package cache

func diskSize(dir string) int64 { return 0 }
