//go:build !unix

package volume

import (
	"io"
	"os"
)

type osFile struct{ *os.File }

// createTemp makes a new file under a temporary name in dir.
func createTemp(dir string) (localFile, error) {
	f, err := os.CreateTemp(dir, ".dvpc-tmp-*")
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (f osFile) Chmod(perm uint32) error { return f.File.Chmod(os.FileMode(perm & 0o777)) }

// openRead opens the file name for reading.
func openRead(name string) (io.ReadCloser, error) { return os.Open(name) }

// rename moves a finished file into place.
func rename(from, to string) error { return os.Rename(from, to) }
