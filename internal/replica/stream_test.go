package replica_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/replica"
)

// stream writes data to a new writer of s in uneven pieces and returns it
// with the name its hash gives it.
func stream(t *testing.T, s *replica.Set, data []byte) (blob.ObjectWriter, string) {
	t.Helper()
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	for rest := data; len(rest) > 0; {
		k := min(len(rest), 100_003)
		if n, err := w.Write(rest[:k]); n != k || err != nil {
			t.Fatalf("Write = %d, %v; want %d", n, err, k)
		}
		rest = rest[k:]
	}
	sum := w.Sum()
	if w.Len() != int64(len(data)) || sum != sha256.Sum256(data) {
		t.Fatalf("Len, Sum = %d, %x; want %d, the SHA-256 of the bytes", w.Len(), sum, len(data))
	}
	return w, "data/" + hex.EncodeToString(sum[:])
}

// markDown makes the set believe that its mirrors that fail Stat are out
// of reach, for longer than any test takes (six failures in a row: 30 s
// of back-off).
func markDown(t *testing.T, s *replica.Set) {
	for range 6 {
		s.Stat(t.Context(), "probe")
	}
}

// allDown makes f fail every call, as a mirror out of reach does.
func allDown(f *faulty.Store) {
	for _, m := range []faulty.Method{faulty.Put, faulty.Get, faulty.Stat, faulty.List, faulty.Delete} {
		f.FailPrefix(m, "", errDown)
	}
}

// One mirror failing Create or Commit drops out of the write; the others
// take it and it is queued for that mirror.
func TestStreamOneFails(t *testing.T) {
	for _, tc := range []struct {
		what           string
		create, commit error
	}{
		{"Create", errDown, nil},
		{"Commit", nil, errDown},
	} {
		t.Run(tc.what, func(t *testing.T) {
			a, c := newDir(t), newDir(t)
			b := &streamFault{Store: mem.New()}
			b.set(tc.create, tc.commit)
			box := t.TempDir()
			s := newSet(t, replica.Options{Quorum: 2, Outbox: box}, mirror("a", a), mirror("b", b), mirror("c", c))
			data := randBytes(3, 3<<20+5)
			w, name := stream(t, s, data)
			if err := w.Commit(t.Context(), name); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			w.Abort() // safe after Commit
			checkHas(t, "a", a, name, data)
			checkHas(t, "c", c, name, data)
			checkLacks(t, "the failing mirror", b, name)
			if q := s.Queued(); len(q) != 1 || q["b"] != 1 {
				t.Fatalf("Queued() = %v, want map[b:1]", q)
			}
			if u := s.Unsafe(""); len(u) != 0 {
				t.Errorf("Unsafe = %q; the object is on a quorum", u)
			}
			if left := filesUnder(t, filepath.Join(box, "objects")); len(left) != 0 {
				t.Errorf("the outbox keeps %q of an object safe on a quorum", left)
			}
			b.set(nil, nil)
			if rep, err := s.Drain(t.Context(), nil); err != nil || rep.Delivered != 1 {
				t.Fatalf("Drain = %+v, %v; want 1 delivered", rep, err)
			}
			checkHas(t, "b after Drain", b, name, data)
		})
	}
}

// Every mirror known to be down before the write: the object is streamed
// to the outbox, kept there, and queued for all.
func TestStreamAllKnownDown(t *testing.T) {
	var fs []*faulty.Store
	var inner []*mem.Store
	var ms []replica.Mirror
	for _, id := range []string{"a", "b", "c"} {
		m := mem.New()
		f := faulty.New(m)
		allDown(f)
		fs, inner, ms = append(fs, f), append(inner, m), append(ms, mirror(id, f))
	}
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, ms...)
	markDown(t, s)
	data := randBytes(4, 2<<20+1)
	w, name := stream(t, s, data)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for i, f := range fs {
		if n := f.Calls(faulty.Put); n != 0 {
			t.Errorf("mirror %d known down was sent %d Puts", i, n)
		}
	}
	if q := s.Queued(); len(q) != 3 || q["a"] != 1 || q["b"] != 1 || q["c"] != 1 {
		t.Fatalf("Queued() = %v, want 1 for each mirror", q)
	}
	if u := s.Unsafe(""); !slices.Equal(u, []string{name}) {
		t.Fatalf("Unsafe = %q, want [%s]", u, name)
	}
	checkHas(t, "the set", s, name, data)

	for _, f := range fs {
		f.Reset()
	}
	if rep, err := s.Drain(t.Context(), nil); err != nil || rep.Delivered != 3 {
		t.Fatalf("Drain = %+v, %v; want 3 delivered", rep, err)
	}
	for i, m := range inner {
		checkHas(t, "after Drain, mirror "+string(rune('a'+i)), m, name, data)
	}
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("after Drain, Unsafe = %q", u)
	}
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("after Drain, the outbox holds %q", left)
	}
}

// Every mirror believed up, and every Commit fails: the bytes were
// nowhere kept, so the write fails and nothing is queued.
func TestStreamAllFailUnexpectedly(t *testing.T) {
	var ms []replica.Mirror
	for _, id := range []string{"a", "b", "c"} {
		f := faulty.New(mem.New())
		f.FailPrefix(faulty.Put, "", errDown)
		ms = append(ms, mirror(id, f))
	}
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, ms...)
	w, name := stream(t, s, randBytes(5, 1<<20))
	err := w.Commit(t.Context(), name)
	checkKind(t, "Commit that no mirror took", err, errors.Unavailable)
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Queued() = %v after a failed write", q)
	}
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("Unsafe = %q after a failed write", u)
	}
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("the outbox holds %q after a failed write", left)
	}
}

// Fewer Commits than the quorum succeed, unexpectedly: the bytes are read
// back from a mirror that took them and kept on this PC.
func TestStreamBelowQuorumReadBack(t *testing.T) {
	a := faulty.New(mem.New())
	var bs []*faulty.Store
	ms := []replica.Mirror{mirror("a", a)}
	for _, id := range []string{"b", "c"} {
		f := faulty.New(mem.New())
		f.FailPrefix(faulty.Put, "", errDown)
		bs = append(bs, f)
		ms = append(ms, mirror(id, f))
	}
	box := t.TempDir()
	s := newSet(t, replica.Options{Quorum: 2, Outbox: box}, ms...)
	data := randBytes(6, 1<<20+3)
	w, name := stream(t, s, data)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if a.Calls(faulty.Get) == 0 {
		t.Error("the bytes were not read back from the mirror that took them")
	}
	checkKept(t, box, name, data)
	if q := s.Queued(); len(q) != 2 || q["b"] != 1 || q["c"] != 1 {
		t.Fatalf("Queued() = %v, want map[b:1 c:1]", q)
	}
	if u := s.Unsafe(""); !slices.Equal(u, []string{name}) {
		t.Fatalf("Unsafe = %q, want [%s]", u, name)
	}
}

// Two of three mirrors known down before the write: the object is
// streamed to the outbox as well, and needs no reading back.
func TestStreamBelowQuorumKnownDown(t *testing.T) {
	a := faulty.New(mem.New())
	ms := []replica.Mirror{mirror("a", a)}
	for _, id := range []string{"b", "c"} {
		f := faulty.New(mem.New())
		allDown(f)
		ms = append(ms, mirror(id, f))
	}
	box := t.TempDir()
	s := newSet(t, replica.Options{Quorum: 2, Outbox: box}, ms...)
	markDown(t, s)
	data := randBytes(7, 1<<20+7)
	w, name := stream(t, s, data)
	gets := a.Calls(faulty.Get)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if n := a.Calls(faulty.Get) - gets; n != 0 {
		t.Errorf("Commit read the object back %d times; the outbox had it", n)
	}
	checkKept(t, box, name, data)
	if q := s.Queued(); len(q) != 2 || q["b"] != 1 || q["c"] != 1 {
		t.Fatalf("Queued() = %v, want map[b:1 c:1]", q)
	}
}

// checkKept fails t unless the outbox in box keeps data under name.
func checkKept(t *testing.T, box, name string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(box, "objects", filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("the outbox does not keep the object: %v", err)
	}
	if !slices.Equal(got, data) {
		t.Fatalf("the outbox keeps %d bytes that differ from the %d written", len(got), len(data))
	}
}

// With every mirror down and no outbox, nothing takes the bytes.
func TestStreamNowhere(t *testing.T) {
	f := faulty.New(mem.New())
	allDown(f)
	s := newSet(t, replica.Options{}, mirror("a", f))
	markDown(t, s)
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	_, err = w.Write([]byte("bytes"))
	checkKind(t, "Write with no mirror and no outbox", err, errors.Unavailable)
}

// A Commit under a name whose hash the bytes miss is refused as Corrupt,
// also when the outbox takes part, and leaves nothing behind.
func TestStreamWrongHashOutbox(t *testing.T) {
	f := faulty.New(mem.New())
	allDown(f)
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, mirror("a", f), mirror("b", mem.New()))
	markDown(t, s) // only a is down: below the quorum, so the outbox writes too
	w, _ := stream(t, s, []byte("some bytes"))
	err := w.Commit(t.Context(), hashName("data/", []byte("other bytes")))
	checkKind(t, "Commit under another hash", err, errors.Corrupt)
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Queued() = %v after a refused write", q)
	}
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("the outbox holds %q after a refused write", left)
	}
}

// Abort leaves nothing in the outbox.
func TestStreamAbortOutbox(t *testing.T) {
	f := faulty.New(mem.New())
	allDown(f)
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, mirror("a", f))
	markDown(t, s)
	w, _ := stream(t, s, randBytes(8, 1000))
	w.Abort()
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("the outbox holds %q after Abort", left)
	}
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("Unsafe = %q after Abort", u)
	}
}

// unhashCounter is a folder mirror that counts how its writers are told
// to leave the hash to the set, and committed with the set's sum.
type unhashCounter struct {
	*dir.Store
	unhash, commitSum atomic.Int32
}

func (c *unhashCounter) Create(ctx context.Context) (blob.ObjectWriter, error) {
	w, err := c.Store.Create(ctx)
	return &unhashCounted{ObjectWriter: w, c: c}, err
}

type unhashCounted struct {
	blob.ObjectWriter
	c *unhashCounter
}

func (w *unhashCounted) Unhash() bool {
	w.c.unhash.Add(1)
	return w.ObjectWriter.(blob.Unhasher).Unhash()
}

func (w *unhashCounted) CommitSum(ctx context.Context, name string, sum [32]byte) error {
	w.c.commitSum.Add(1)
	return w.ObjectWriter.(blob.Unhasher).CommitSum(ctx, name, sum)
}

// The set hashes what it streams once: the folders' writers are told not
// to, and are committed with the set's sum, which still has to match
// the name.
func TestStreamHashesOnce(t *testing.T) {
	a, b := &unhashCounter{Store: newDir(t)}, &unhashCounter{Store: newDir(t)}
	s := newSet(t, replica.Options{}, mirror("a", a), mirror("b", b))
	data := randBytes(21, 1<<20)
	w, name := stream(t, s, data)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*unhashCounter{a, b} {
		if u, cs := c.unhash.Load(), c.commitSum.Load(); u != 1 || cs != 1 {
			t.Fatalf("a folder's writer was unhashed %d times and committed with the set's sum %d times, want 1 and 1", u, cs)
		}
		checkHas(t, "folder", c.Store, name, data)
	}
	// Bytes that are not what the name promises are refused, as before.
	w, _ = stream(t, s, data)
	wrong := hashName("data/", []byte("something else"))
	checkKind(t, "commit under another hash's name", w.Commit(t.Context(), wrong), errors.Corrupt)
	checkLacks(t, "folder a", a.Store, wrong)
	checkLacks(t, "folder b", b.Store, wrong)
}
