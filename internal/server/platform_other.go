//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package server

// lockData does nothing here: on this platform, make sure that only one
// server uses a data folder.
func lockData(path string) (unlock func(), err error) { return func() {}, nil }

// syncDir does nothing here: this platform cannot sync a folder.
func syncDir(dir string) error { return nil }
