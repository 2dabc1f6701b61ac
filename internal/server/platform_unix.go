//go:build linux || darwin || freebsd || openbsd || netbsd || dragonfly

package server

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/dvpc/dvpc/internal/errors"
)

// lockData takes an exclusive lock on the file path, so that two servers
// never share a data folder: each would sweep the other's temporary files
// and keep its own count of usage. Operators' commands do not take it.
func lockData(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, errors.E(errors.IO, path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, errors.E(errors.Unavailable, path, errors.Str("another dvpc serve is using this data folder"))
	}
	return func() { f.Close() }, nil
}

// syncDir makes the entries of the folder dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
