package replica_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/replica"
)

// A mirror that missed a write gets the writes after it only behind it,
// in order, even once it answers again: it never holds a journal segment
// before the pack the segment names.
func TestBehindMirrorKeepsOrder(t *testing.T) {
	a, b := mem.New(), mem.New()
	fb := faulty.New(b)
	rec := &recorder{Store: fb}
	s := newSet(t, replica.Options{Quorum: 1, Outbox: t.TempDir()}, mirror("a", a), mirror("b", rec))
	pack := randBytes(1, 1000)
	packName := hashName("data/", pack)
	fb.FailPrefix(faulty.Put, "data/", errDown)
	mustPut(t, s, packName, pack)
	fb.Reset()
	seg := randBytes(2, 100)
	segName := hashName("journal/", seg)
	mustPut(t, s, segName, seg)
	checkLacks(t, "the mirror behind, before the drain", b, segName)
	if q := s.Queued()["b"]; q != 2 {
		t.Fatalf("queued for b: %d, want 2", q)
	}
	if _, err := s.Drain(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	puts := rec.Puts()
	if len(puts) < 2 || puts[len(puts)-2] != packName || puts[len(puts)-1] != segName {
		t.Fatalf("puts on b in this order: %q; want the pack, then the segment", puts)
	}
	// Caught up, it is written to directly again.
	other := randBytes(3, 10)
	mustPut(t, s, hashName("index/", other), other)
	checkHas(t, "the mirror caught up", b, hashName("index/", other), other)
}

// sectionStore is a mem store that uploads from a section, as a server or
// S3 does, and counts how it was written.
type sectionStore struct {
	*mem.Store
	mu       sync.Mutex
	sections int
	fail     error
}

func (s *sectionStore) PutSection(ctx context.Context, name string, body *io.SectionReader, sum [32]byte) error {
	s.mu.Lock()
	s.sections++
	fail := s.fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	b := make([]byte, body.Size())
	if _, err := body.ReadAt(b, 0); err != nil && err != io.EOF {
		return err
	}
	return s.Store.Put(ctx, name, b)
}

// Mirrors that upload from bytes held elsewhere share one spool: each gets
// the object by PutSection; and when all of them refuse it (a full server),
// the spool's bytes wait in the outbox rather than the write failing.
func TestSharedSpool(t *testing.T) {
	x, y := &sectionStore{Store: mem.New()}, &sectionStore{Store: mem.New()}
	s := newSet(t, replica.Options{Quorum: 2, Outbox: t.TempDir()}, mirror("x", x), mirror("y", y))
	data := randBytes(4, 6<<20) // past the spool's memory: a temporary file
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; p = p[min(len(p), 100000):] {
		if _, err := w.Write(p[:min(len(p), 100000)]); err != nil {
			t.Fatal(err)
		}
	}
	name := hashName("data/", data)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if x.sections != 1 || y.sections != 1 {
		t.Fatalf("PutSection calls: %d, %d; want 1 each", x.sections, y.sections)
	}
	checkHas(t, "x", x, name, data)
	checkHas(t, "y", y, name, data)

	full := errors.E(errors.Full, errors.Str("quota (test)"))
	x.fail, y.fail = full, full
	data2 := randBytes(5, 5<<20)
	w, err = s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data2); err != nil {
		t.Fatal(err)
	}
	name2 := hashName("data/", data2)
	if err := w.Commit(t.Context(), name2); err != nil {
		t.Fatalf("commit that every mirror refused as full: %v; want it kept on this PC", err)
	}
	if got := s.Unsafe("data/"); len(got) != 1 || got[0] != name2 {
		t.Fatalf("unsafe: %q", got)
	}
	checkHas(t, "the set, from the outbox", s, name2, data2)
	if we := s.WriteErrors()["x"]; !errors.Is(we, errors.Full) {
		t.Fatalf("write error of x: %v, want Full", we)
	}
	x.fail, y.fail = nil, nil
	if _, err := s.Drain(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	checkHas(t, "x after the drain", x, name2, data2)
	checkHas(t, "y after the drain", y, name2, data2)
	if got := s.Unsafe(""); len(got) != 0 {
		t.Fatalf("unsafe after the drain: %q", got)
	}
}

var _ blob.SectionPutter = (*sectionStore)(nil)

// gated is a store whose ReadAt waits until open is closed, then answers
// even if its caller has given up: its bytes were on their way.
type gated struct {
	blob.Store
	open <-chan struct{}
}

func (g *gated) ReadAt(_ context.Context, name string, p []byte, off int64) (int, error) {
	<-g.open
	return blob.ReadAt(context.Background(), g.Store, name, p, off)
}

// signalling is a store whose ReadAt closes called on its first call.
type signalling struct {
	blob.Store
	once   sync.Once
	called chan struct{}
}

func (s *signalling) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	s.once.Do(func() { close(s.called) })
	return blob.ReadAt(ctx, s.Store, name, p, off)
}

// When a hedged read gets good copies from two mirrors, the caller's
// verify runs for one at a time and accepts exactly one: the copy it kept
// what it decoded from is the one returned.
func TestVerifyOnce(t *testing.T) {
	data := randBytes(7, 4096)
	name := hashName("data/", data)
	a, b := twoCopies(t, name, data)
	second := &signalling{Store: b, called: make(chan struct{})}
	first := &gated{Store: a, open: second.called} // answers once the hedge has asked the other
	s := newSet(t, replica.Options{Hedge: time.Millisecond}, mirror("a", first), mirror("b", second))
	var mu sync.Mutex
	active, overlap, accepted := 0, false, 0
	verify := func(p []byte) error {
		mu.Lock()
		active++
		overlap = overlap || active > 1
		mu.Unlock()
		defer func() { mu.Lock(); active--; mu.Unlock() }()
		if !bytes.Equal(p, data) {
			return errors.E(errors.Corrupt, errors.Str("not the data"))
		}
		mu.Lock()
		accepted++
		mu.Unlock()
		return nil
	}
	p := make([]byte, len(data))
	n, err := blob.ReadVerified(t.Context(), s, name, p, 0, verify)
	if err != nil || !bytes.Equal(p[:n], data) {
		t.Fatalf("ReadVerified: %d bytes, %v", n, err)
	}
	if accepted != 1 || overlap {
		t.Fatalf("verify accepted %d copies (overlapping: %v); want exactly one, one at a time", accepted, overlap)
	}
}
