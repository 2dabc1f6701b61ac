//go:build unix

package cache

import "golang.org/x/sys/unix"

// diskSize returns the size of the file system that holds dir, or 0.
func diskSize(dir string) int64 {
	var st unix.Statfs_t
	for ; dir != "/" && dir != "."; dir = parent(dir) {
		if unix.Statfs(dir, &st) == nil {
			return int64(st.Blocks) * int64(st.Bsize)
		}
	}
	return 0
}
