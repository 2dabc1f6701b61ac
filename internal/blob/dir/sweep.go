package dir

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// Sweep removes the temporary files that writers killed in the middle of a
// Put left behind, if they were last modified more than olderThan ago, and
// returns how many it removed. Pick olderThan well above the time the
// slowest Put takes, since a live writer's file looks the same.
func (s *Store) Sweep(olderThan time.Duration) (removed int, err error) {
	const op errors.Op = "dir.Sweep"
	cutoff := time.Now().Add(-olderThan)
	err = filepath.WalkDir(s.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return skipGone(err)
		}
		if d.IsDir() || !isTemp(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return skipGone(err)
		}
		if fi.ModTime().After(cutoff) {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return skipGone(err)
		}
		removed++
		return nil
	})
	return removed, mapErr(op, s.root, err)
}

// skipGone returns nil for an error that says the file is not there any
// more: another sweeper or the writer removed it first.
func skipGone(err error) error {
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
