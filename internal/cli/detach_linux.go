package cli

import "syscall"

// detach unmounts dir lazily: the kernel ends the mount once the files
// open in it are closed.
func detach(dir string) error { return syscall.Unmount(dir, syscall.MNT_DETACH) }
