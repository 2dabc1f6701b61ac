package s3

import (
	"context"
	"fmt"
	"strings"
	"sync"

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
//
// An S3 service lists keys in order, each once. One that does not, or
// that answers page after page with no key in it, is broken or hostile:
// the listing fails rather than loop (minio-go would ask for the next
// page for ever).
func (s *Store) list(ctx context.Context, full string, after *string, fn func(blob.Info) error) (stopped bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	g := &listGuard{cancel: cancel, most: maxIdlePages + s.cfg.Attempts,
		err: errors.E(errors.IO, fmt.Errorf("the S3 store %s answered page after page of a listing without a key in them: a broken service", s.where()))}
	ctx = context.WithValue(ctx, listGuardKey{}, g)
	opts := minio.ListObjectsOptions{Prefix: full, Recursive: true, StartAfter: *after}
	for oi := range s.core.ListObjectsIter(ctx, s.cfg.Bucket, opts) {
		if oi.Err != nil {
			if err := context.Cause(ctx); err != nil {
				return false, err
			}
			return false, oi.Err
		}
		if oi.Key <= *after {
			return false, errors.E(errors.IO, fmt.Errorf("the S3 store %s listed %q after %q: out of order, a broken service", s.where(), oi.Key, *after))
		}
		*after = oi.Key
		g.progress()
		name, ok := strings.CutPrefix(oi.Key, s.cfg.Prefix)
		if !ok || !strings.HasPrefix(oi.Key, full) || blob.ValidName(name) != nil {
			continue
		}
		if oi.Size < 0 {
			return false, errors.E(errors.IO, name, fmt.Errorf("the S3 store %s listed a size of %d bytes", s.where(), oi.Size))
		}
		if err := fn(blob.Info{Name: name, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return true, err
		}
	}
	// minio-go ends a listing without a word when ctx is done: that is
	// not its end.
	return false, context.Cause(ctx)
}

// maxIdlePages bounds the pages, beyond the attempts at one, that a
// listing may ask for in a row without getting a key.
const maxIdlePages = 16

// listGuard counts the requests of one listing since the last key it
// gave, and ends the listing (cancel with err) past most.
type listGuard struct {
	mu     sync.Mutex
	idle   int
	most   int
	cancel context.CancelCauseFunc
	err    error
}

type listGuardKey struct{}

func (g *listGuard) progress() {
	g.mu.Lock()
	g.idle = 0
	g.mu.Unlock()
}

// request counts a request; false means the listing has ended.
func (g *listGuard) request() bool {
	g.mu.Lock()
	g.idle++
	over := g.idle > g.most
	g.mu.Unlock()
	if over {
		g.cancel(g.err)
	}
	return !over
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
