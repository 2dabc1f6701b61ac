package faulty

import (
	"context"

	"github.com/dvpc/dvpc/internal/blob"
)

// Put passes the call on, unless a rule fails or drops it.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	r, ok := s.choose(Put, name)
	switch {
	case !ok:
		return s.inner.Put(ctx, name, data)
	case r.Effect == Drop:
		return nil
	default:
		return fail(r, name)
	}
}

// Get passes the call on, unless a rule fails it or corrupts its bytes:
// it flips the lowest bit of the middle byte (an empty result stays
// empty).
func (s *Store) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	r, ok := s.choose(Get, name)
	if ok && r.Effect == Fail {
		return nil, fail(r, name)
	}
	data, err := s.inner.Get(ctx, name, off, length)
	if ok && err == nil && len(data) > 0 {
		data[len(data)/2] ^= 0x01
	}
	return data, err
}

// Stat passes the call on, unless a rule fails it.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	if r, ok := s.choose(Stat, name); ok {
		return blob.Info{}, fail(r, name)
	}
	return s.inner.Stat(ctx, name)
}

// List passes the call on, unless a rule fails it.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if r, ok := s.choose(List, prefix); ok {
		return fail(r, prefix)
	}
	return s.inner.List(ctx, prefix, fn)
}

// Delete passes the call on, unless a rule fails it.
func (s *Store) Delete(ctx context.Context, name string) error {
	if r, ok := s.choose(Delete, name); ok {
		return fail(r, name)
	}
	return s.inner.Delete(ctx, name)
}
