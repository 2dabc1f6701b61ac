package replica

import (
	"context"
	"io"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Endpoint is one address of a mirror: a server's URL, a bucket's
// endpoint, a folder. All endpoints of a mirror reach the same objects.
type Endpoint struct {
	Name  string // what status shows: a URL or a path
	Store blob.Store
}

// Mirror is one member of a set.
type Mirror struct {
	ID        string // stable within the set; names its queue in the outbox
	Name      string // what status shows
	Removable bool   // a drive that is unplugged more often than not: its absence is not a fault
	Endpoints []Endpoint
}

// endpoint is an Endpoint and what the set has learned of it.
type endpoint struct {
	Endpoint
	mu        sync.Mutex
	latency   time.Duration // moving average of successful calls
	failures  int           // consecutive failures that say "cannot reach"
	downUntil time.Time     // not tried before this, unless nothing else is left
	lastErr   error
}

// backoff is how long an endpoint that failed n times in a row is passed
// over: 1 s, doubling to at most 30 s.
func backoff(n int) time.Duration {
	d := time.Second << min(n-1, 5)
	return min(d, 30*time.Second)
}

// done records the end of a call to e begun at start. answered is when
// the answer began (blob.Progress), 0 if the store does not say: the
// latency is the time to the answer, not to its last byte, so that a
// large read does not make the mirror look slow to answer.
func (e *endpoint) done(start time.Time, answered int64, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil || !transient(err) {
		d := time.Since(start)
		if answered != 0 {
			d = time.Duration(answered - start.UnixNano())
		}
		if e.latency == 0 {
			e.latency = d
		} else {
			e.latency = (e.latency*7 + d) / 8
		}
		e.failures, e.downUntil, e.lastErr = 0, time.Time{}, nil
		return
	}
	e.failures++
	e.downUntil = time.Now().Add(backoff(e.failures))
	e.lastErr = err
}

func (e *endpoint) snapshot() (lat time.Duration, down bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.latency, time.Now().Before(e.downUntil), e.lastErr
}

// transient reports whether err says that a mirror could not be reached or
// failed for now, so that another endpoint or mirror should be tried. A
// missing object, a bad name or a refused hash are answers, not faults.
func transient(err error) bool {
	switch errors.KindOf(err) {
	case errors.Unavailable, errors.IO, errors.Other:
		return true
	}
	return false
}

// member is a mirror of the set: a blob.Store that fails over between its
// endpoints, trying the fastest healthy one first.
type member struct {
	Mirror
	eps   []*endpoint
	local bool // every endpoint is a folder of this machine
}

func newMember(m Mirror) *member {
	mb := &member{Mirror: m, local: len(m.Endpoints) > 0}
	for _, e := range m.Endpoints {
		mb.eps = append(mb.eps, &endpoint{Endpoint: e})
		mb.local = mb.local && blob.Local(e.Store)
	}
	return mb
}

// order returns the endpoints to try: healthy ones by latency, then those
// in back-off (a mirror is never given up on entirely).
func (m *member) order() []*endpoint {
	type ranked struct {
		e    *endpoint
		lat  time.Duration
		down bool
	}
	rs := make([]ranked, len(m.eps))
	for i, e := range m.eps {
		lat, down, _ := e.snapshot()
		rs[i] = ranked{e, lat, down}
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].down != rs[j].down {
			return !rs[i].down
		}
		if rs[i].lat == 0 || rs[j].lat == 0 {
			return rs[i].lat != 0 && rs[j].lat == 0 // measured first, as Set.ordered
		}
		return rs[i].lat < rs[j].lat
	})
	out := make([]*endpoint, len(rs))
	for i, r := range rs {
		out[i] = r.e
	}
	return out
}

// failed records a fault of a stream to the mirror's preferred endpoint,
// so that the next writes know it.
func (m *member) failed(err error) {
	if transient(err) || errors.Is(err, errors.Full) {
		m.order()[0].done(time.Now(), 0, errors.E(errors.Unavailable, err))
	}
}

// slow records that the mirror's preferred endpoint did not answer while
// another mirror did: it is passed over like one that failed.
func (m *member) slow() {
	m.order()[0].done(time.Now(), 0, errors.E(errors.Unavailable, errors.Str("too slow: another mirror answered first")))
}

// down reports whether every endpoint is in back-off: the mirror is
// believed out of reach.
func (m *member) down() bool {
	for _, e := range m.eps {
		if _, d, _ := e.snapshot(); !d {
			return false
		}
	}
	return true
}

// failing reports whether the last call to every endpoint failed as out
// of reach: tried again once its back-off ends, the mirror may answer, but
// a write cannot count on it.
func (m *member) failing() bool {
	for _, e := range m.eps {
		if _, _, err := e.snapshot(); err == nil {
			return false
		}
	}
	return true
}

// latency is the mirror's best endpoint latency, 0 if none is known.
func (m *member) latency() time.Duration {
	var best time.Duration
	for _, e := range m.eps {
		lat, down, _ := e.snapshot()
		if !down && lat > 0 && (best == 0 || lat < best) {
			best = lat
		}
	}
	return best
}

// lastLatency is the mirror's best endpoint latency, in back-off or not;
// 0 if none is known.
func (m *member) lastLatency() time.Duration {
	var best time.Duration
	for _, e := range m.eps {
		if lat, _, _ := e.snapshot(); lat > 0 && (best == 0 || lat < best) {
			best = lat
		}
	}
	return best
}

// do runs f on the endpoints in order until one answers. f must use the
// ctx it is given, which notes when an answer begins.
func (m *member) do(ctx context.Context, f func(context.Context, blob.Store) error) error {
	var err error
	for _, e := range m.order() {
		start := time.Now()
		var answered atomic.Int64
		ectx := blob.WithProgress(ctx, func() { answered.CompareAndSwap(0, time.Now().UnixNano()) })
		err = f(ectx, e.Store)
		if ctx.Err() != nil {
			return err // cancelled by the caller: says nothing of the endpoint
		}
		e.done(start, answered.Load(), err)
		if err == nil || !transient(err) {
			return err
		}
	}
	return err
}

func (m *member) Put(ctx context.Context, name string, data []byte) error {
	return m.do(ctx, func(ctx context.Context, s blob.Store) error { return s.Put(ctx, name, data) })
}

func (m *member) Get(ctx context.Context, name string, off, length int64) (b []byte, err error) {
	err = m.do(ctx, func(ctx context.Context, s blob.Store) error {
		b, err = s.Get(ctx, name, off, length)
		return err
	})
	return b, err
}

func (m *member) ReadAt(ctx context.Context, name string, p []byte, off int64) (n int, err error) {
	err = m.do(ctx, func(ctx context.Context, s blob.Store) error {
		n, err = blob.ReadAt(ctx, s, name, p, off)
		if err == io.EOF {
			return nil
		}
		return err
	})
	return n, err
}

// openFile opens the file of an object of a mirror whose objects are
// files of this machine (a folder mirror); it returns nil for others.
func (m *member) openFile(ctx context.Context, name string) (f *os.File, err error) {
	err = m.do(ctx, func(ctx context.Context, s blob.Store) error {
		f, _, err = blob.OpenFile(ctx, s, name)
		return err
	})
	return f, err
}

func (m *member) Stat(ctx context.Context, name string) (i blob.Info, err error) {
	err = m.do(ctx, func(ctx context.Context, s blob.Store) error {
		i, err = s.Stat(ctx, name)
		return err
	})
	return i, err
}

// List lists from one endpoint; on a fault midway it starts over on the
// next, skipping what was already passed on.
func (m *member) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	last := ""
	var fnErr error
	err := m.do(ctx, func(ctx context.Context, s blob.Store) error {
		return s.List(ctx, prefix, func(i blob.Info) error {
			if i.Name <= last && last != "" {
				return nil
			}
			if fnErr = fn(i); fnErr != nil {
				return fnErr
			}
			last = i.Name
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

func (m *member) Delete(ctx context.Context, name string) error {
	return m.do(ctx, func(ctx context.Context, s blob.Store) error { return s.Delete(ctx, name) })
}

// Create streams to the first endpoint that accepts the writer. A writer
// made says nothing of the endpoint's reach (one that buffers or spools
// meets the mirror only at Commit): only a failure is recorded.
func (m *member) Create(ctx context.Context) (w blob.ObjectWriter, err error) {
	for _, e := range m.order() {
		start := time.Now()
		if w, err = blob.Create(ctx, e.Store); err == nil || ctx.Err() != nil {
			return w, err
		}
		e.done(start, 0, err)
		if !transient(err) {
			return nil, err
		}
	}
	return nil, err
}

// spools reports whether the mirror's preferred endpoint uploads from
// bytes held elsewhere (a server, S3): a set writer then gives it the
// shared spool rather than a writer of its own.
func (m *member) spools() bool {
	_, ok := m.order()[0].Store.(blob.SectionPutter)
	return ok
}

// putSection uploads body under name, failing over between endpoints.
func (m *member) putSection(ctx context.Context, name string, body *io.SectionReader, sum [32]byte) error {
	return m.do(ctx, func(ctx context.Context, s blob.Store) error {
		return blob.PutSection(ctx, s, name, io.NewSectionReader(body, 0, body.Size()), sum)
	})
}
