//go:build !linux

package cli

import "golang.org/x/sys/unix"

// detach unmounts dir by force: the BSDs and macOS have no lazy unmount.
func detach(dir string) error { return unix.Unmount(dir, unix.MNT_FORCE) }
