//go:build unix

package volume

import (
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// rawFile is a file that export writes, or import reads, with the raw
// system calls: an os.File costs four more per open (the runtime tries to
// register it with its poller), which an export or an import of many small
// files pays thousands of times.
type rawFile struct {
	fd   int
	name string
}

// createTemp makes a new file, readable by its owner only, under a
// temporary name in dir.
func createTemp(dir string) (localFile, error) {
	for {
		name := filepath.Join(dir, ".dvpc-tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "create", Path: name, Err: err}
		}
		return &rawFile{fd: fd, name: name}, nil
	}
}

// openRead opens the file name for reading.
func openRead(name string) (io.ReadCloser, error) {
	for {
		fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return &rawFile{fd: fd, name: name}, nil
	}
}

func (f *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: f.name, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *rawFile) WriteAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		k, err := unix.Pwrite(f.fd, p[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, &os.PathError{Op: "write", Path: f.name, Err: err}
		}
		n += k
	}
	return n, nil
}

func (f *rawFile) Chmod(perm uint32) error { return unix.Fchmod(f.fd, perm&0o777) }

func (f *rawFile) Close() error {
	if err := unix.Close(f.fd); err != nil {
		return &os.PathError{Op: "close", Path: f.name, Err: err}
	}
	return nil
}

func (f *rawFile) Name() string { return f.name }

// rename moves a finished file into place. rename(2) alone refuses to
// replace a folder with a file; os.Rename adds an lstat of the target to
// say so earlier, one more system call per file.
func rename(from, to string) error {
	if err := unix.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
