//go:build !unix

package volume

import (
	"io/fs"
	"os"
	"path/filepath"
)

// dirHandle is an open folder; see walk_unix.go.
type dirHandle struct{ path string }

func openDir(path string) (*dirHandle, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return &dirHandle{path}, names, err
}

func (d *dirHandle) close() {}

func (d *dirHandle) lstat(name string) (fs.FileInfo, error) {
	return os.Lstat(filepath.Join(d.path, name))
}
