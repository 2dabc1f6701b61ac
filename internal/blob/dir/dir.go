// Package dir is a mirror kept in a folder of the local file system: the
// object "a/b/c" is the file root/a/b/c.
//
// It owns the layout of that folder and the durability of what it writes:
// every Put goes to a temporary file (".tmp-*~", which no object name can
// match), is synced, renamed over the final name, and its folder is synced.
// It must never write outside root, never leave a partial object under its
// final name, and never interpret the bytes it stores.
//
// The file system must be case-sensitive: on a case-insensitive one the
// objects "A" and "a" would be the same file.
package dir

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Permissions of the folders and files a Store creates. The bytes are
// sealed before they reach a mirror; these only keep other users out.
const (
	dirPerm  = 0o700
	filePerm = 0o600
)

// Store is a mirror in a local folder. It is safe for concurrent use, also
// by several processes sharing the folder.
type Store struct {
	root string

	dropWritten bool // see DropWritten

	onReadDir func(dir string) // tests: called for each folder List reads
}

var _ blob.Store = (*Store)(nil)

// DropWritten makes s drop each object it streams in (Create) from the
// page cache once it is on disk, and returns s. A server keeps objects for
// other devices to read later, if ever: left in the page cache, each one
// pushes out what is in use and makes the kernel find fresh memory for
// the next, which costs the server more than the copy itself (borg drops
// its segments so too).
func (s *Store) DropWritten() *Store {
	s.dropWritten = true
	return s
}

// Open returns the Store kept in the existing folder root.
func Open(root string) (*Store, error) {
	const op errors.Op = "dir.Open"
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, root, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil && errors.KindOf(mapErr(op, root, err)) == errors.NotExist:
		return nil, errors.E(op, errors.NotExist, root, errors.Str("mirror folder does not exist"))
	case err != nil:
		return nil, mapErr(op, root, err)
	case !fi.IsDir():
		return nil, errors.E(op, errors.NotExist, root, errors.Str("mirror path is not a folder"))
	}
	return &Store{root: abs}, nil
}

// Create makes the folder root, and its parents, if they do not exist, and
// opens it.
func Create(root string) (*Store, error) {
	const op errors.Op = "dir.Create"
	if err := os.MkdirAll(root, dirPerm); err != nil {
		return nil, mapErr(op, root, err)
	}
	return Open(root)
}

// Root returns the absolute path of the Store's folder.
func (s *Store) Root() string { return s.root }

// path returns the file that holds the object name, which must be valid.
func (s *Store) path(name string) string {
	return filepath.Join(s.root, filepath.FromSlash(name))
}

// Put stores data under name. See blob.Store.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	const op errors.Op = "dir.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	if sum, ok := blob.Sum(name); ok && sha256.Sum256(data) != sum {
		return errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	path := s.path(name)
	if s.same(path, data) {
		// Already stored; make sure its name is durable too.
		return mapErr(op, name, syncDir(filepath.Dir(path)))
	}
	if err := s.mkdirs(filepath.Dir(path)); err != nil {
		return putErr(op, name, err)
	}
	return putErr(op, name, writeAtomic(path, data))
}

// same reports whether the file at path already holds exactly data. Only a
// file of the same size is read, so a new object costs one failed stat.
func (s *Store) same(path string, data []byte) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != int64(len(data)) {
		return false
	}
	old, err := os.ReadFile(path)
	return err == nil && bytes.Equal(old, data)
}

// Get returns length bytes of name from offset off. See blob.Store.
func (s *Store) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	const op errors.Op = "dir.Get"
	if err := blob.Check(ctx, op, name); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, errors.E(op, errors.Invalid, name, errors.Str("negative offset"))
	}
	f, err := os.Open(s.path(name))
	if err != nil {
		return nil, mapErr(op, name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, mapErr(op, name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.E(op, errors.NotExist, name)
	}
	buf := make([]byte, span(fi.Size(), off, length))
	if _, err := f.ReadAt(buf, off); err != nil && len(buf) > 0 {
		return nil, mapErr(op, name, err)
	}
	return buf, nil
}

// span returns how many bytes of an object of the given size the range
// (off, length) covers, truncated to the object.
func span(size, off, length int64) int64 {
	if off >= size {
		return 0
	}
	if length < 0 || length > size-off {
		return size - off
	}
	return length
}

// Stat describes name. See blob.Store.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	const op errors.Op = "dir.Stat"
	if err := blob.Check(ctx, op, name); err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(s.path(name))
	if err != nil {
		return blob.Info{}, mapErr(op, name, err)
	}
	if !fi.Mode().IsRegular() {
		return blob.Info{}, errors.E(op, errors.NotExist, name)
	}
	return blob.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes name; a missing object is not an error. Emptied folders
// are left in place, so that a concurrent Put never loses its folder.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op errors.Op = "dir.Delete"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	path := s.path(name)
	fi, err := os.Lstat(path)
	switch {
	case err != nil && errors.KindOf(mapErr(op, name, err)) == errors.NotExist:
		return nil
	case err != nil:
		return mapErr(op, name, err)
	case fi.IsDir():
		return nil // a folder of objects, not an object
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return mapErr(op, name, err)
	}
	return nil
}
