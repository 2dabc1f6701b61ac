package dir

import (
	"os"
	"path/filepath"
)

// Temporary files are named tempPrefix + random + tempSuffix. The suffix
// holds a byte no object name may contain, so a temporary file is never
// mistaken for an object, nor an object for a temporary file.
const (
	tempPrefix = ".tmp-"
	tempSuffix = "~"
)

// isTemp reports whether a file name is one of our temporary files.
func isTemp(base string) bool {
	return len(base) > len(tempPrefix)+len(tempSuffix) &&
		base[:len(tempPrefix)] == tempPrefix && base[len(base)-len(tempSuffix):] == tempSuffix
}

// writeAtomic writes data to path so that a reader sees all of it or
// nothing: to a temporary file in the same folder, synced, then renamed
// over path, and the folder synced.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+"*"+tempSuffix)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// mkdirs makes the folder dir inside the store's root, and any missing
// parents, syncing the parent of each folder it makes so that the new
// entries survive a crash.
func (s *Store) mkdirs(dir string) error {
	if dir == s.root {
		return nil
	}
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirPerm); err != nil && !os.IsExist(err) {
		return err
	}
	return syncDir(parent)
}
