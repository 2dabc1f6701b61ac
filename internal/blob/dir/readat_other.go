//go:build !unix

package dir

import "os"

// readAt reads len(p) bytes of the file at path from off, at most
// readPiece bytes a call, and calls progress after each.
func readAt(path string, p []byte, off int64, progress func()) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for n < len(p) {
		k, err := f.ReadAt(p[n:min(len(p), n+readPiece)], off+int64(n))
		n += k
		if k > 0 {
			progress()
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
