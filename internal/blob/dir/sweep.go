package dir

import (
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Sweep removes the temporary files that writers killed in the middle of a
// Put left behind, if they were last modified more than olderThan ago, and
// returns how many it removed. Pick olderThan well above the time the
// slowest Put takes, since a live writer's file looks the same. Like List,
// it follows symbolic links to folders.
func (s *Store) Sweep(olderThan time.Duration) (removed int, err error) {
	const op errors.Op = "dir.Sweep"
	sw := &sweeper{cutoff: time.Now().Add(-olderThan)}
	err = sw.sweep(s.root, 0)
	return sw.removed, mapErr(op, s.root, err)
}

type sweeper struct {
	cutoff  time.Time
	removed int
}

// sweep sweeps the folder path, whose name relative to the root is
// nameLen bytes long, and the folders below it.
func (sw *sweeper) sweep(path string, nameLen int) error {
	if nameLen > blob.MaxNameLen {
		return nil // no object, and so no Put, below here
	}
	des, err := readDir(path)
	if err != nil {
		return skipGone(err)
	}
	for _, de := range des {
		child := filepath.Join(path, de.Name())
		if e, ok := classify(path, de); ok && e.dir && validElem(e.name) {
			err = sw.sweep(child, nameLen+len(e.name)+1)
		} else if isTemp(de.Name()) && de.Type().IsRegular() {
			err = sw.remove(child, de)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// remove removes the temporary file path if it is old enough.
func (sw *sweeper) remove(path string, de os.DirEntry) error {
	fi, err := de.Info()
	if err != nil || fi.ModTime().After(sw.cutoff) {
		return skipGone(err)
	}
	if err := os.Remove(path); err != nil {
		return skipGone(err)
	}
	sw.removed++
	return nil
}

// skipGone returns nil for an error that says the file is not there any
// more: another sweeper or the writer removed it first.
func skipGone(err error) error {
	if err != nil && os.IsNotExist(err) {
		return nil
	}
	return err
}
