package replica

import (
	"context"
	"crypto/sha256"
	"hash"
	"sync"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Create returns a writer that streams one object to every mirror at once:
// the bytes are made once and copied to each. A mirror whose writer fails
// drops out and has the object queued. When fewer mirrors than the quorum
// are believed reachable, the object is also written to the outbox: a
// mirror whose last call failed is written to, but not counted on, since
// a writer that buffers fails only at Commit, when the bytes are gone.
func (s *Set) Create(ctx context.Context) (blob.ObjectWriter, error) {
	w := &fanWriter{s: s, h: sha256.New()}
	up := 0
	for _, m := range s.members {
		mw := &memberWriter{m: m}
		trusted := !m.failing()
		if m.down() {
			mw.err = errors.E(errors.Unavailable, errors.Str("not reachable"))
		} else if mw.w, mw.err = m.Create(ctx); mw.err == nil && trusted {
			up++
		}
		w.ws = append(w.ws, mw)
	}
	if up < s.quorum && s.out != nil {
		lw, err := s.out.objects.Create(ctx)
		if err != nil {
			w.Abort()
			return nil, err
		}
		w.local = lw
	}
	return w, nil
}

type memberWriter struct {
	m   *member
	w   blob.ObjectWriter
	err error // once set, this mirror is out of the write
}

type fanWriter struct {
	s     *Set
	ws    []*memberWriter
	local blob.ObjectWriter // the outbox's copy, or nil
	h     hash.Hash
	n     int64
}

func (w *fanWriter) Write(p []byte) (int, error) {
	live := 0
	for _, mw := range w.ws {
		if mw.err != nil {
			continue
		}
		if _, err := mw.w.Write(p); err != nil {
			mw.err = err
			mw.w.Abort()
			mw.m.failed(err)
			continue
		}
		live++
	}
	if w.local != nil {
		if _, err := w.local.Write(p); err != nil {
			w.local.Abort()
			w.local = nil
		}
	}
	if live == 0 && w.local == nil {
		var failed []result
		for _, mw := range w.ws {
			failed = append(failed, result{mw.m, mw.err})
		}
		if err := worst(failed); err != nil {
			return 0, errors.E(errors.Op("replica.Write"), err)
		}
		return 0, errors.E(errors.Op("replica.Write"), errors.Unavailable, errors.Str(quorumMsg(0, w.s.quorum, failed)))
	}
	w.h.Write(p)
	w.n += int64(len(p))
	return len(p), nil
}

func (w *fanWriter) Len() int64 { return w.n }

func (w *fanWriter) Sum() [32]byte {
	var sum [32]byte
	w.h.Sum(sum[:0])
	return sum
}

// Commit commits every mirror's writer at once, and settles the object as
// Put does.
func (w *fanWriter) Commit(ctx context.Context, name string) error {
	const op errors.Op = "replica.Commit"
	if err := blob.Check(ctx, op, name); err != nil {
		w.Abort()
		return err
	}
	byMember := map[*member]*memberWriter{}
	for _, mw := range w.ws {
		byMember[mw.m] = mw
	}
	var mu sync.Mutex
	called := map[*member]bool{}
	ok, failed := w.s.fanout(ctx, func(ctx context.Context, m *member) error {
		mw := byMember[m]
		if mw.err != nil {
			return mw.err
		}
		mu.Lock()
		called[m] = true
		mu.Unlock()
		err := mw.w.Commit(ctx, name)
		if err != nil && ctx.Err() == nil {
			m.failed(err) // the next objects are not counted on it
		}
		return err
	})
	// A writer the fanout passed over (its mirror failed meanwhile) is
	// dropped, with the temporary file it holds; the object is queued.
	for _, mw := range w.ws {
		if mw.w != nil && mw.err == nil && !called[mw.m] {
			mw.w.Abort()
		}
	}
	if w.local != nil {
		if err := w.local.Commit(ctx, name); err != nil {
			w.local = nil
		} else {
			w.s.out.mu.Lock()
			w.s.out.local[name] = true
			w.s.out.mu.Unlock()
		}
	}
	err := w.s.settle(ctx, op, name, ok, failed, nil)
	if w.local != nil && (err != nil || len(ok) >= w.s.quorum) && w.s.out != nil {
		// Safe on the mirrors after all, or failed: the local copy is not
		// needed unless a queue names it.
		w.s.out.mu.Lock()
		needed := w.s.out.refs[name] > 0 && len(ok) < w.s.quorum
		if !needed {
			delete(w.s.out.local, name)
		}
		w.s.out.mu.Unlock()
		if !needed {
			w.s.out.objects.Delete(ctx, name)
		}
	}
	return err
}

func (w *fanWriter) Abort() {
	for _, mw := range w.ws {
		if mw.w != nil {
			mw.w.Abort()
		}
	}
	if w.local != nil {
		w.local.Abort()
	}
}
