package replica

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
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
		switch {
		case m.down():
			mw.err = errors.E(errors.Unavailable, errors.Str("not reachable"))
		case s.behind(m):
			mw.err = errBehind
		case m.spools():
			// Servers and S3 upload at Commit from one spool they share:
			// the object is written on this PC once, not once a mirror.
			mw.spooled = true
			if w.spool == nil {
				w.spool = blob.NewSpool(s.spoolDir(), spoolPattern)
				w.spool.Unhash() // the set's writer hashes the same bytes
			}
		default:
			if mw.w, mw.err = m.Create(ctx); mw.err == nil {
				unhash(mw.w)
			}
		}
		if mw.err == nil && trusted {
			up++
		}
		w.ws = append(w.ws, mw)
	}
	if up < s.quorum && s.out != nil && w.spool == nil {
		lw, err := s.out.objects.Create(ctx)
		if err != nil {
			w.Abort()
			return nil, err
		}
		w.local = lw
		unhash(lw)
	}
	return w, nil
}

// unhash tells w, if it can be told, that the set hashes what it writes
// (fanWriter.h): each folder mirror's writer hashed the same bytes again,
// a fifth of an import's CPU into four folders.
func unhash(w blob.ObjectWriter) {
	if u, ok := w.(blob.Unhasher); ok {
		u.Unhash()
	}
}

// commit commits w under name, whose bytes hash to sum: with the sum
// when w takes it (unhashed or not), else as it is.
func commit(ctx context.Context, w blob.ObjectWriter, name string, sum [32]byte) error {
	if u, ok := w.(blob.Unhasher); ok {
		return u.CommitSum(ctx, name, sum)
	}
	return w.Commit(ctx, name)
}

// spoolPattern names the shared spools' temporary files.
const spoolPattern = "spool-*.tmp"

// spoolDir is where shared spools spill: the outbox, whose file system
// keeps what waits anyway, else the system's temporary folder.
func (s *Set) spoolDir() string {
	if s.out != nil {
		return s.out.dir
	}
	return ""
}

type memberWriter struct {
	m       *member
	w       blob.ObjectWriter // its own writer, or nil when spooled
	spooled bool              // uploads from the set writer's spool at Commit
	err     error             // once set, this mirror is out of the write
}

type fanWriter struct {
	s     *Set
	ws    []*memberWriter
	spool *blob.Spool       // shared by the spooled mirrors, or nil
	local blob.ObjectWriter // the outbox's copy, or nil
	h     hash.Hash         // of every byte written, which each writer was given
	n     int64
}

// parallelWrite is the size from which a write goes to the mirrors'
// writers at once rather than one after the other.
const parallelWrite = 64 << 10

func (w *fanWriter) Write(p []byte) (int, error) {
	// The targets: each mirror's own writer, the shared spool, the
	// outbox's copy. Large writes go to all at once.
	type target struct {
		w   io.Writer
		mw  *memberWriter // nil for the spool and the outbox
		err error
	}
	var ts []*target
	spoolLive := false
	for _, mw := range w.ws {
		switch {
		case mw.err != nil:
		case mw.spooled:
			spoolLive = true
		default:
			ts = append(ts, &target{w: mw.w, mw: mw})
		}
	}
	var spoolT, localT *target
	if spoolLive {
		spoolT = &target{w: w.spool}
		ts = append(ts, spoolT)
	}
	if w.local != nil {
		localT = &target{w: w.local}
		ts = append(ts, localT)
	}
	if len(ts) > 1 && len(p) >= parallelWrite {
		var wg sync.WaitGroup
		for _, t := range ts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, t.err = t.w.Write(p)
			}()
		}
		wg.Wait()
	} else {
		for _, t := range ts {
			_, t.err = t.w.Write(p)
		}
	}
	live := 0
	for _, t := range ts {
		if t.err == nil {
			if t != localT {
				live++
			}
			continue
		}
		switch {
		case t.mw != nil:
			t.mw.err = t.err
			t.mw.w.Abort()
			t.mw.m.failed(t.err)
		case t == spoolT:
			// This PC's disk failed the spool: every spooled mirror is out.
			for _, mw := range w.ws {
				if mw.spooled && mw.err == nil {
					mw.err = t.err
				}
			}
		case t == localT:
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
	var body *io.SectionReader
	if w.spool != nil {
		if _, err := w.spool.CheckSummed(op, name, w.Sum()); err != nil {
			w.Abort()
			return err
		}
		var err error
		if body, err = w.spool.Body(); err != nil {
			w.Abort()
			return err
		}
	}
	defer func() {
		if w.spool != nil {
			w.spool.Discard()
		}
	}()
	sum := w.Sum()
	var mu sync.Mutex
	called := map[*member]bool{}
	ok, failed := w.s.fanout(ctx, true, func(ctx context.Context, m *member) error {
		mw := byMember[m]
		if mw.err != nil {
			return mw.err
		}
		mu.Lock()
		called[m] = true
		mu.Unlock()
		var err error
		if mw.spooled {
			err = m.putSection(ctx, name, body, sum)
		} else {
			err = commit(ctx, mw.w, name, sum)
		}
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
		if err := commit(ctx, w.local, name, sum); err != nil {
			w.local = nil
		} else {
			w.s.out.mu.Lock()
			w.s.out.local[name] = true
			w.s.out.mu.Unlock()
		}
	}
	// Below the quorum, the outbox keeps the bytes: from the spool, when
	// there is one, so that even a write every mirror refused (a full
	// server, say) waits on this PC rather than failing.
	var data []byte
	if body != nil && len(ok) < w.s.quorum && w.s.out != nil && !w.s.out.has(name) && refused(failed) == nil {
		data = make([]byte, body.Size())
		if _, err := body.ReadAt(data, 0); err != nil && err != io.EOF {
			data = nil
		}
	}
	err := w.s.settle(ctx, op, name, ok, failed, data)
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
	if w.spool != nil {
		w.spool.Discard()
	}
	if w.local != nil {
		w.local.Abort()
	}
}
