package s3

import (
	"context"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// List calls fn for every object whose name starts with prefix, in
// lexical order; keys under the store's prefix that are not valid names
// are skipped. A listing that breaks after some progress is resumed after
// the last key seen (StartAfter), a bounded number of times.
// See blob.Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	const op errors.Op = "s3.List"
	if err := ctx.Err(); err != nil {
		return errors.E(op, err)
	}
	if !possiblePrefix(prefix) {
		return nil
	}
	full := s.cfg.Prefix + prefix
	after := ""
	for attempt := 1; ; attempt++ {
		before := after
		stopped, err := s.list(ctx, full, &after, fn)
		if stopped || err == nil {
			return err
		}
		// minio-go has retried the failed request already: resume only a
		// listing that made progress before it broke.
		err = s.mapErr(ctx, op, prefix, err)
		if attempt >= s.cfg.Attempts || after == before || !errors.Is(err, errors.Unavailable) {
			return err
		}
	}
}

// list walks the keys that start with full, after *after, calling fn with
// each object and recording the last key seen in *after. It returns
// stopped when fn returned an error, which it then returns as is.
func (s *Store) list(ctx context.Context, full string, after *string, fn func(blob.Info) error) (stopped bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: full, Recursive: true, StartAfter: *after}
	for oi := range s.core.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
		if oi.Err != nil {
			return false, oi.Err
		}
		*after = oi.Key
		name, ok := strings.CutPrefix(oi.Key, s.cfg.Prefix)
		if !ok || !strings.HasPrefix(oi.Key, full) || blob.ValidName(name) != nil {
			continue
		}
		if err := fn(blob.Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return true, err
		}
	}
	return false, nil
}

// possiblePrefix reports whether some valid name could start with prefix:
// every element before the last is a valid element, and the last holds
// only the characters of names. Other prefixes list nothing, and are not
// sent to the store.
func possiblePrefix(prefix string) bool {
	elems := strings.Split(prefix, "/")
	last := elems[len(elems)-1]
	for _, e := range elems[:len(elems)-1] {
		if blob.ValidName(e) != nil {
			return false
		}
	}
	return last == "" || blob.ValidName(last) == nil || last == "." || last == ".."
}
