//go:build !unix

package dir

import "os"

// readAt reads len(p) bytes of the file at path from off.
func readAt(path string, p []byte, off int64) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.ReadAt(p, off)
}
