//go:build unix

package dir

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readAt reads len(p) bytes of the file at path from off. It uses the raw
// system calls: an os.File costs several more per open (the runtime tries
// to register it with its poller), which an export of many small files
// pays thousands of times. It reads at most readPiece bytes a call and
// calls progress after each.
func readAt(path string, p []byte, off int64, progress func()) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	n := 0
	for n < len(p) {
		k, err := unix.Pread(fd, p[n:min(len(p), n+readPiece)], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return n, &os.PathError{Op: "read", Path: path, Err: err}
		case k == 0:
			return n, io.EOF
		}
		n += k
		progress()
	}
	return n, nil
}
