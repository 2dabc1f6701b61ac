package s3

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// List calls fn for every object whose name starts with prefix, in
// lexical order; keys under the store's prefix that are not valid names
// are skipped. A listing that breaks after some progress is resumed after
// the last key seen (start-after), a bounded number of times.
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
		// The client has tried the failed request again already: resume
		// only a listing that made progress before it broke.
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
// the listing fails rather than loop.
func (s *Store) list(ctx context.Context, full string, after *string, fn func(blob.Info) error) (stopped bool, err error) {
	token, idle := "", 0
	for {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		p, err := s.c.listPage(ctx, full, *after, token)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return false, cerr
			}
			return false, err
		}
		if len(p.Contents) == 0 {
			if idle++; idle > maxIdlePages+s.cfg.Attempts {
				return false, errors.E(errors.IO, fmt.Errorf("the S3 store %s answered page after page of a listing without a key in them: a broken service", s.where()))
			}
		} else {
			idle = 0
		}
		for _, o := range p.Contents {
			if o.Key <= *after {
				return false, errors.E(errors.IO, fmt.Errorf("the S3 store %s listed %q after %q: out of order, a broken service", s.where(), clip(o.Key, 200), clip(*after, 200)))
			}
			*after = o.Key
			name, ok := strings.CutPrefix(o.Key, s.cfg.Prefix)
			if !ok || !strings.HasPrefix(o.Key, full) || blob.ValidName(name) != nil {
				continue
			}
			if o.Size < 0 {
				return false, errors.E(errors.IO, name, fmt.Errorf("the S3 store %s listed a size of %d bytes", s.where(), o.Size))
			}
			mod, _ := time.Parse(time.RFC3339, o.LastModified)
			if err := fn(blob.Info{Name: name, Size: o.Size, ModTime: mod}); err != nil {
				return true, err
			}
		}
		if !p.Truncated {
			return false, nil
		}
		if p.Next == "" {
			return false, errors.E(errors.IO, fmt.Errorf("the S3 store %s said a listing goes on without saying where: a broken service", s.where()))
		}
		token = p.Next
	}
}

// maxIdlePages bounds the pages, beyond the attempts at one, that a
// listing may ask for in a row without getting a key.
const maxIdlePages = 16

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
