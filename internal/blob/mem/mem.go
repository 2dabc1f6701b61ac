// Package mem is a mirror held in memory, for tests that want the
// contract of blob.Store without a disk.
//
// It owns nothing but its map. It must never hand out or keep a slice it
// does not own: Put copies what it is given and Get returns a copy, as a
// real mirror would. Its contents vanish with the process, so it must never
// stand in for a mirror outside tests.
package mem

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Store is an in-memory mirror. The zero value is not usable; call New.
// It is safe for concurrent use.
type Store struct {
	mu      sync.RWMutex
	objects map[string]object
}

type object struct {
	data    []byte
	modTime time.Time
}

var _ blob.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{objects: make(map[string]object)}
}

// Put stores a copy of data under name. See blob.Store.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	const op errors.Op = "mem.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	if sum, ok := blob.Sum(name); ok && sha256.Sum256(data) != sum {
		return errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	obj := object{data: slices.Clone(data), modTime: time.Now()}
	if obj.data == nil {
		obj.data = []byte{}
	}
	s.mu.Lock()
	s.objects[name] = obj
	s.mu.Unlock()
	return nil
}

// Get returns a copy of length bytes of name from offset off. See
// blob.Store.
func (s *Store) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	const op errors.Op = "mem.Get"
	if err := blob.Check(ctx, op, name); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, errors.E(op, errors.Invalid, name, errors.Str("negative offset"))
	}
	s.mu.RLock()
	obj, ok := s.objects[name]
	s.mu.RUnlock()
	if !ok {
		return nil, errors.E(op, errors.NotExist, name)
	}
	size := int64(len(obj.data))
	if off > size {
		off = size
	}
	end := size
	if length >= 0 && length < size-off {
		end = off + length
	}
	return slices.Clone(obj.data[off:end:end]), nil
}

// Stat describes name. See blob.Store.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	const op errors.Op = "mem.Stat"
	if err := blob.Check(ctx, op, name); err != nil {
		return blob.Info{}, err
	}
	s.mu.RLock()
	obj, ok := s.objects[name]
	s.mu.RUnlock()
	if !ok {
		return blob.Info{}, errors.E(op, errors.NotExist, name)
	}
	return info(name, obj), nil
}

// List calls fn for each object whose name starts with prefix, in lexical
// order. It works on a snapshot taken when it is called, so fn may use the
// Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	const op errors.Op = "mem.List"
	if err := ctx.Err(); err != nil {
		return errors.E(op, prefix, err)
	}
	var infos []blob.Info
	s.mu.RLock()
	for name, obj := range s.objects {
		if strings.HasPrefix(name, prefix) {
			infos = append(infos, info(name, obj))
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(infos, func(a, b blob.Info) int { return strings.Compare(a.Name, b.Name) })
	for _, in := range infos {
		if err := fn(in); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes name; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op errors.Op = "mem.Delete"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.objects, name)
	s.mu.Unlock()
	return nil
}

func info(name string, obj object) blob.Info {
	return blob.Info{Name: name, Size: int64(len(obj.data)), ModTime: obj.modTime}
}
