package replica_test

import (
	"bytes"
	"context"
	stderrors "errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/replica"
)

// damaged returns a set whose first mirror serves damaged copies of
// everything under "data/" and whose second is good, both holding obj
// (put straight into them, so that the set has measured neither and asks
// the damaged one first).
func damaged(t *testing.T, obj []byte, badFirst func(blob.Store) blob.Store) (*replica.Set, string) {
	name := hashName("data/", obj)
	bad, good := mem.New(), mem.New()
	for _, m := range []*mem.Store{bad, good} {
		mustPut(t, m, name, obj)
	}
	return newSet(t, replica.Options{}, mirror("bad", badFirst(bad)), mirror("good", good)), name
}

func corrupting(s blob.Store) blob.Store {
	f := faulty.New(s)
	f.CorruptGets("data/")
	return f
}

func TestDamageGet(t *testing.T) {
	obj := randBytes(10, 10000)
	other := randBytes(11, 10000)
	otherName := hashName("data/", other)
	for _, tc := range []struct {
		what string
		wrap func(blob.Store) blob.Store
	}{
		{"corrupted", corrupting},
		{"another object's bytes", func(s blob.Store) blob.Store {
			mustPut(t, s, otherName, other)
			return &swapped{Store: s, name: hashName("data/", obj), other: otherName}
		}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			s, name := damaged(t, obj, tc.wrap)
			checkHas(t, "the set", s, name, obj)
			want := map[string][]string{name: {"mirror-bad"}}
			if got := s.Damaged(); len(got) != 1 || !slices.Equal(got[name], want[name]) {
				t.Errorf("Damaged() = %v, want %v", got, want)
			}
			got, err := s.GetVerified(t.Context(), name, func([]byte) error { return nil })
			if err != nil || !bytes.Equal(got, obj) {
				t.Errorf("GetVerified = %d bytes, %v; want the good copy", len(got), err)
			}
		})
	}
}

// A part read from a damaged mirror fails the caller's check, and the read
// falls over to a good mirror.
func TestDamageReadVerified(t *testing.T) {
	obj := randBytes(12, 100000)
	s, name := damaged(t, obj, corrupting)
	const off, n = 4000, 3000
	errBad := errors.E(errors.Corrupt, errors.Str("fails the caller's check"))
	var calls atomic.Int32
	verify := func(b []byte) error {
		calls.Add(1)
		if !bytes.Equal(b, obj[off:off+n]) {
			return errBad
		}
		return nil
	}
	p := make([]byte, n)
	got, err := blob.ReadVerified(t.Context(), s, name, p, off, verify)
	if err != nil || got != n || !bytes.Equal(p, obj[off:off+n]) {
		t.Fatalf("ReadVerified = %d, %v; equal %v; want %d good bytes", got, err, bytes.Equal(p, obj[off:off+n]), n)
	}
	if calls.Load() < 2 {
		t.Errorf("verify was called %d times; the damaged mirror was not asked", calls.Load())
	}
	if d := s.Damaged(); !slices.Equal(d[name], []string{"mirror-bad"}) {
		t.Errorf("Damaged() = %v, want %s on mirror-bad", d, name)
	}
}

// When every copy is damaged, reads fail as Corrupt, or with the error of
// the caller's check.
func TestDamageEverywhere(t *testing.T) {
	obj := randBytes(13, 5000)
	name := hashName("data/", obj)
	var ms []replica.Mirror
	for _, id := range []string{"a", "b", "c"} {
		m := mem.New()
		mustPut(t, m, name, obj)
		ms = append(ms, mirror(id, corrupting(m)))
	}
	s := newSet(t, replica.Options{}, ms...)
	_, err := s.Get(t.Context(), name, 0, -1)
	checkKind(t, "Get with every copy damaged", err, errors.Corrupt)
	if d := s.Damaged(); len(d[name]) != 3 {
		t.Errorf("Damaged() = %v, want all three mirrors", d)
	}

	errBad := errors.E(errors.Corrupt, errors.Str("fails the caller's check"))
	_, err = s.GetVerified(t.Context(), name, func([]byte) error { return nil })
	checkKind(t, "GetVerified with every copy damaged", err, errors.Corrupt)
	_, err = s.GetVerified(t.Context(), "plain", func([]byte) error { return errBad })
	checkKind(t, "GetVerified of a missing object", err, errors.NotExist)

	p := make([]byte, 100)
	_, err = blob.ReadVerified(t.Context(), s, name, p, 0, func(b []byte) error {
		if !bytes.Equal(b, obj[:100]) {
			return errBad
		}
		return nil
	})
	if !stderrors.Is(err, errBad) {
		t.Errorf("ReadVerified with every copy damaged = %v, want the check's error", err)
	}
	checkKind(t, "ReadVerified with every copy damaged", err, errors.Corrupt)
}

// A missing object is NotExist when every mirror says so, and Unavailable
// while a mirror that might hold it cannot be asked.
func TestMissing(t *testing.T) {
	down := faulty.New(mem.New())
	allDown(down)
	s := newSet(t, replica.Options{}, mirror("a", mem.New()), mirror("b", mem.New()))
	_, err := s.Get(t.Context(), "nothing", 0, -1)
	checkKind(t, "Get of a missing object", err, errors.NotExist)
	s = newSet(t, replica.Options{}, mirror("a", mem.New()), mirror("down", down))
	_, err = s.Get(t.Context(), "nothing", 0, -1)
	checkKind(t, "Get of an object missing on the one mirror up", err, errors.Unavailable)
}

// A mirror that hangs is passed over after Hedge, and its call is
// cancelled once another mirror has answered.
func TestHedge(t *testing.T) {
	obj := randBytes(14, 20000)
	name := hashName("data/", obj)
	for _, tc := range []struct {
		what string
		read func(context.Context, *replica.Set) error
	}{
		{"Get", func(ctx context.Context, s *replica.Set) error {
			b, err := s.Get(ctx, name, 0, -1)
			if err == nil && !bytes.Equal(b, obj) {
				err = errors.Str("wrong bytes")
			}
			return err
		}},
		{"ReadAt", func(ctx context.Context, s *replica.Set) error {
			p := make([]byte, 1000)
			n, err := s.ReadAt(ctx, name, p, 500)
			if err == nil && (n != 1000 || !bytes.Equal(p, obj[500:1500])) {
				err = errors.Str("wrong bytes")
			}
			return err
		}},
		{"ReadVerified", func(ctx context.Context, s *replica.Set) error {
			p := make([]byte, 1000)
			_, err := s.ReadVerified(ctx, name, p, 0, func(b []byte) error {
				if !bytes.Equal(b, obj[:1000]) {
					return errors.Str("wrong bytes")
				}
				return nil
			})
			return err
		}},
		{"Stat", func(ctx context.Context, s *replica.Set) error {
			in, err := s.Stat(ctx, name)
			if err == nil && in.Size != int64(len(obj)) {
				err = errors.Str("wrong size")
			}
			return err
		}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			slow, fast := mem.New(), mem.New()
			for _, m := range []*mem.Store{slow, fast} {
				mustPut(t, m, name, obj)
			}
			hung := newStuck(slow)
			s := newSet(t, replica.Options{Hedge: 20 * time.Millisecond}, mirror("hung", hung), mirror("fast", fast))
			if err := tc.read(t.Context(), s); err != nil {
				t.Fatalf("read: %v", err)
			}
			select {
			case <-hung.started:
			default:
				t.Fatal("the hung mirror, first in order, was never asked")
			}
			select {
			case err := <-hung.returned:
				if !stderrors.Is(err, context.Canceled) {
					t.Errorf("the hung call ended with %v, want context.Canceled", err)
				}
			default:
				t.Fatal("the read returned while the hung call still ran")
			}
		})
	}
}

// A mirror reached by two endpoints, the first out of reach, works
// through the second, and Status says so.
func TestEndpointFailover(t *testing.T) {
	ctx := t.Context()
	inner := mem.New()
	m := replica.Mirror{ID: "nas", Name: "NAS", Endpoints: []replica.Endpoint{
		{Name: "https://nas.example/far", Store: blob.Unreachable("no route to host")},
		{Name: "https://nas.lan/near", Store: inner},
	}}
	s := newSet(t, replica.Options{}, m)
	data := randBytes(15, 3000)
	name := hashName("data/", data)
	mustPut(t, s, name, data)
	checkHas(t, "the endpoint that answers", inner, name, data)
	checkHas(t, "the set", s, name, data)
	p := make([]byte, 10)
	if n, err := s.ReadAt(ctx, name, p, 5); err != nil || n != 10 || !bytes.Equal(p, data[5:15]) {
		t.Errorf("ReadAt = %d, %v", n, err)
	}
	if got := names(t, s, "data/"); !slices.Equal(got, []string{name}) {
		t.Errorf("List = %q, want [%s]", got, name)
	}
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("streamed")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx, "streamed"); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	checkHas(t, "the endpoint that answers", inner, "streamed", []byte("streamed"))
	if err := s.Delete(ctx, "streamed"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkLacks(t, "after Delete", inner, "streamed")

	st := s.Status(ctx, "probe")
	if len(st) != 1 || len(st[0].Endpoints) != 2 {
		t.Fatalf("Status = %+v, want one mirror of two endpoints", st)
	}
	ms, far, near := st[0], st[0].Endpoints[0], st[0].Endpoints[1]
	if ms.ID != "nas" || ms.Name != "NAS" || !ms.Reachable {
		t.Errorf("mirror status = %+v, want nas reachable", ms)
	}
	if far.Name != "https://nas.example/far" || far.Reachable || far.Preferred || far.Err == "" {
		t.Errorf("far endpoint = %+v, want not reachable, not preferred, with an error", far)
	}
	if near.Name != "https://nas.lan/near" || !near.Reachable || !near.Preferred || near.Err != "" {
		t.Errorf("near endpoint = %+v, want reachable and preferred", near)
	}
}

// Status reports a mirror whose every endpoint fails as not reachable,
// and what the outbox holds for each mirror.
func TestStatus(t *testing.T) {
	down := faulty.New(mem.New())
	allDown(down)
	s := newSet(t, replica.Options{Outbox: t.TempDir()},
		mirror("a", mem.New()), mirror("b", mem.New()), replica.Mirror{ID: "usb", Name: "USB", Removable: true,
			Endpoints: []replica.Endpoint{{Name: "/media/usb", Store: down}}})
	mustPut(t, s, "x", []byte("x"))
	st := s.Status(t.Context(), "probe")
	if len(st) != 3 {
		t.Fatalf("Status = %+v, want three mirrors", st)
	}
	for _, m := range st[:2] {
		if !m.Reachable || m.Queued != 0 || !m.Endpoints[0].Preferred {
			t.Errorf("status of %s = %+v, want reachable, nothing queued", m.ID, m)
		}
	}
	if u := st[2]; u.Reachable || !u.Removable || u.Queued != 1 || u.Endpoints[0].Reachable {
		t.Errorf("status of usb = %+v, want removable, not reachable, 1 queued", u)
	}
}

// streamer is a mirror whose ReadAt answers like a network store over a
// slow link: it reports progress (blob.Progress) every couple of
// milliseconds for streamFor, then, if stall, falls silent until its
// context is cancelled; else it returns the bytes.
type streamer struct {
	blob.Store
	streamFor time.Duration
	stall     bool
	cancelled chan struct{} // closed when a stalled call is cancelled
}

func (s *streamer) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(s.streamFor); time.Now().Before(end); {
		blob.Progress(ctx)
		select {
		case <-ctx.Done():
			return 0, errors.E(errors.Unavailable, ctx.Err())
		case <-tick.C:
		}
	}
	if s.stall {
		<-ctx.Done()
		close(s.cancelled)
		return 0, errors.E(errors.Unavailable, ctx.Err())
	}
	return blob.ReadAt(ctx, s.Store, name, p, off)
}

// counted counts the ReadAt calls that reach a store.
type counted struct {
	blob.Store
	n atomic.Int32
}

func (c *counted) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	c.n.Add(1)
	return blob.ReadAt(ctx, c.Store, name, p, off)
}

// A mirror whose answer streams for longer than the hedge time is not
// doubled by a read of another mirror: it is slow, not silent. One whose
// answer stops halfway is: the read ends with the other mirror's bytes.
func TestHedgeOnSilenceNotLength(t *testing.T) {
	obj := randBytes(16, 5000)
	name := hashName("data/", obj)
	read := func(s *replica.Set) {
		t.Helper()
		p := make([]byte, len(obj))
		if _, err := s.ReadVerified(t.Context(), name, p, 0, func(b []byte) error {
			if !bytes.Equal(b, obj) {
				return errors.Str("wrong bytes")
			}
			return nil
		}); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	newPair := func(first *streamer) (*replica.Set, *counted) {
		a, b := twoCopies(t, name, obj)
		first.Store = a
		other := &counted{Store: b}
		return newSet(t, replica.Options{Hedge: 100 * time.Millisecond}, mirror("first", first), mirror("other", other)), other
	}

	s, other := newPair(&streamer{streamFor: 400 * time.Millisecond})
	read(s)
	if n := other.n.Load(); n != 0 {
		t.Errorf("the other mirror was asked %d times while the first streamed its answer", n)
	}

	stalled := &streamer{streamFor: 30 * time.Millisecond, stall: true, cancelled: make(chan struct{})}
	s, other = newPair(stalled)
	read(s)
	if n := other.n.Load(); n != 1 {
		t.Errorf("the other mirror was asked %d times after the first fell silent, want 1", n)
	}
	select {
	case <-stalled.cancelled:
	default:
		t.Error("the read returned while the stalled call still ran")
	}
}

// A mirror's answer time, which sets how long it may stay silent, is the
// time to the start of its answer, not to its last byte: after a long
// answer that began at once, a stall is passed over within the hedge
// floor, not after four times the whole answer's length.
func TestHedgeTimeIsTimeToAnswer(t *testing.T) {
	obj := randBytes(17, 5000)
	name := hashName("data/", obj)
	a, b := twoCopies(t, name, obj)
	first := &streamer{Store: a, streamFor: 400 * time.Millisecond}
	other := &counted{Store: b}
	s := newSet(t, replica.Options{Hedge: 2 * time.Second}, mirror("first", first), mirror("other", other))
	read := func() {
		t.Helper()
		p := make([]byte, len(obj))
		if _, err := s.ReadAt(t.Context(), name, p, 0); err != nil || !bytes.Equal(p, obj) {
			t.Fatalf("read: %v", err)
		}
	}
	read()
	if n := other.n.Load(); n != 0 {
		t.Fatalf("the other mirror was asked %d times while the first streamed", n)
	}
	first.streamFor, first.stall, first.cancelled = 0, true, make(chan struct{})
	start := time.Now()
	read()
	// Measured from the whole answer (400 ms), the first mirror would be
	// given 1.6 s of silence; from the start of its answer, 20 ms.
	if d := time.Since(start); d > 800*time.Millisecond {
		t.Errorf("a read from a mirror that fell silent took %v: its answer time counted the whole answer", d)
	}
}

// pausing is a folder mirror (its OpenFile makes it one of this machine)
// whose reads take pause before they begin, as on a machine busy with
// other work.
type pausing struct {
	*dir.Store
	pause atomic.Int64 // nanoseconds
	n     atomic.Int32
}

func (p *pausing) ReadAt(ctx context.Context, name string, b []byte, off int64) (int, error) {
	p.n.Add(1)
	wait := time.NewTimer(time.Duration(p.pause.Load()))
	defer wait.Stop()
	select {
	case <-ctx.Done():
		return 0, errors.E(errors.Unavailable, ctx.Err())
	case <-wait.C:
	}
	return p.Store.ReadAt(ctx, name, b, off)
}

// A folder of this machine that pauses is not doubled by a read of
// another folder after the 20 ms a server gets: its pause is this
// machine's load, which a second read adds to. One that has hung is
// still passed over within the set's Hedge.
func TestLocalFolderPausesAreNotHedged(t *testing.T) {
	obj := randBytes(18, 5000)
	name := hashName("data/", obj)
	a, b := &pausing{Store: newDir(t)}, &pausing{Store: newDir(t)}
	mustPut(t, a, name, obj)
	mustPut(t, b, name, obj)
	read := func(s *replica.Set) time.Duration {
		t.Helper()
		start := time.Now()
		p := make([]byte, len(obj))
		if _, err := s.ReadAt(t.Context(), name, p, 0); err != nil || !bytes.Equal(p, obj) {
			t.Fatalf("read: %v", err)
		}
		return time.Since(start)
	}
	s := newSet(t, replica.Options{Hedge: 2 * time.Second}, mirror("a", a), mirror("b", b))
	read(s) // the set learns an answer time well under a millisecond
	a.pause.Store(int64(150 * time.Millisecond))
	b.pause.Store(int64(150 * time.Millisecond))
	read(s)
	if n := a.n.Load() + b.n.Load(); n != 2 {
		t.Fatalf("two reads asked the folders %d times: a pause of 150 ms was taken for a hung folder", n)
	}

	hung := &pausing{Store: a.Store}
	hung.pause.Store(int64(time.Hour))
	s = newSet(t, replica.Options{Hedge: 100 * time.Millisecond}, mirror("hung", hung), mirror("b", b))
	b.pause.Store(0)
	if d := read(s); d > time.Second {
		t.Fatalf("a read with the first folder hung took %v, want about the Hedge of 100 ms", d)
	}
}
