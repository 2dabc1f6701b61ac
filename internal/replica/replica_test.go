package replica_test

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/replica"
)

var _ interface {
	blob.Store
	blob.Streamer
	blob.RangeReader
	blob.VerifiedReader
	blob.WholeVerifiedReader
} = (*replica.Set)(nil)

// A set of one mirror is a faithful store.
func TestStoreOneMirror(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store {
		return newSet(t, replica.Options{}, mirror("a", mem.New()))
	})
}

// A set of three mirrors of two kinds, with an outbox, is a faithful store.
func TestStoreThreeMirrors(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store {
		return newSet(t, replica.Options{Outbox: t.TempDir()},
			mirror("a", mem.New()), mirror("b", newDir(t)), mirror("c", mem.New()))
	})
}

func TestNewInvalid(t *testing.T) {
	m := mem.New()
	for _, tc := range []struct {
		what    string
		mirrors []replica.Mirror
		o       replica.Options
	}{
		{"no mirrors", nil, replica.Options{}},
		{"duplicate ids", []replica.Mirror{mirror("a", m), mirror("a", mem.New())}, replica.Options{}},
		{"quorum > mirrors", []replica.Mirror{mirror("a", m), mirror("b", mem.New())}, replica.Options{Quorum: 3}},
		{"empty id", []replica.Mirror{mirror("", m)}, replica.Options{}},
		{"bad id", []replica.Mirror{mirror("..", m)}, replica.Options{}},
		{"id with a slash", []replica.Mirror{mirror("usb/1", m)}, replica.Options{}},
		{"no endpoint", []replica.Mirror{{ID: "a", Name: "a"}}, replica.Options{}},
	} {
		s, err := replica.New(tc.mirrors, tc.o)
		if s != nil || !errors.Is(err, errors.Invalid) {
			t.Errorf("New with %s = %v, %v; want nil and an Invalid error", tc.what, s, err)
		}
	}
}

func TestDefaultQuorum(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 3: 2, 5: 2} {
		var ms []replica.Mirror
		for i := range n {
			ms = append(ms, mirror(string(rune('a'+i)), mem.New()))
		}
		if got := newSet(t, replica.Options{}, ms...).Quorum(); got != want {
			t.Errorf("default quorum of %d mirrors = %d, want %d", n, got, want)
		}
	}
	s := newSet(t, replica.Options{Quorum: 3}, mirror("a", mem.New()), mirror("b", mem.New()), mirror("c", mem.New()))
	if s.Quorum() != 3 {
		t.Errorf("Quorum() = %d, want 3", s.Quorum())
	}
}

// fourMirrors returns a set of four mem mirrors, quorum 2, with an outbox,
// whose third mirror ("c") fails every Put.
func fourMirrors(t *testing.T) (*replica.Set, []*mem.Store, *faulty.Store) {
	inner := []*mem.Store{mem.New(), mem.New(), mem.New(), mem.New()}
	bad := faulty.New(inner[2])
	bad.FailPrefix(faulty.Put, "", errDown)
	s := newSet(t, replica.Options{Quorum: 2, Outbox: t.TempDir()},
		mirror("a", inner[0]), mirror("b", inner[1]), mirror("c", bad), mirror("d", inner[3]))
	return s, inner, bad
}

func TestQuorumOneFailing(t *testing.T) {
	s, inner, bad := fourMirrors(t)
	data := randBytes(1, 5000)
	name := hashName("data/", data)
	mustPut(t, s, name, data)
	for i, m := range inner {
		if i == 2 {
			checkLacks(t, "failing mirror", m, name)
		} else {
			checkHas(t, "mirror "+string(rune('a'+i)), m, name, data)
		}
	}
	if q := s.Queued(); len(q) != 1 || q["c"] != 1 {
		t.Fatalf("Queued() = %v, want map[c:1]", q)
	}
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("Unsafe = %q; the write is on a quorum", u)
	}

	// While the mirror still fails, Drain keeps the queue.
	rep, err := s.Drain(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 0 || rep.Waiting["mirror-c"] != 1 || rep.Errors["mirror-c"] == nil {
		t.Fatalf("Drain while c fails = %+v, want nothing delivered, 1 waiting and an error for mirror-c", rep)
	}
	if q := s.Queued(); q["c"] != 1 {
		t.Fatalf("after a failed Drain, Queued() = %v, want map[c:1]", q)
	}

	bad.Reset()
	var mu sync.Mutex
	var last replica.Progress
	rep, err = s.Drain(t.Context(), func(p replica.Progress) {
		mu.Lock()
		defer mu.Unlock()
		last = p
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || len(rep.Waiting) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("Drain = %+v, want 1 delivered, nothing waiting, no errors", rep)
	}
	if last.Objects != 1 || last.TotalObjects != 1 || last.Bytes != int64(len(data)) {
		t.Errorf("last progress = %+v, want 1 of 1 objects, %d bytes", last, len(data))
	}
	if q := s.Queued(); len(q) != 0 {
		t.Fatalf("after Drain, Queued() = %v, want empty", q)
	}
	for i, m := range inner {
		checkHas(t, "after Drain, mirror "+string(rune('a'+i)), m, name, data)
	}
}

// Below the quorum, without an outbox, a write fails and says so.
func TestQuorumNotReachedNoOutbox(t *testing.T) {
	a, b := faulty.New(mem.New()), faulty.New(mem.New())
	b.FailPrefix(faulty.Put, "", errDown)
	s := newSet(t, replica.Options{Quorum: 2}, mirror("a", a), mirror("b", b))
	err := s.Put(t.Context(), "x", []byte("x"))
	checkKind(t, "Put to 1 of 2 mirrors", err, errors.Unavailable)
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Queued() without an outbox = %v", q)
	}
}

// A refused request is the answer, not a fault to queue for later.
func TestPutRefused(t *testing.T) {
	s, _, _ := fourMirrors(t)
	name := hashName("data/", []byte("promised"))
	checkKind(t, "Put of bytes that miss their hash", s.Put(t.Context(), name, []byte("other")), errors.Corrupt)
	checkKind(t, "Put of a bad name", s.Put(t.Context(), "../x", []byte("x")), errors.Invalid)
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("refused Puts were queued: %v", q)
	}
}

// A mirror too slow for a write is given Linger once the write is safe,
// then cancelled, and the object is queued for it.
func TestLinger(t *testing.T) {
	slow := &stuckPuts{Store: mem.New(), returned: make(chan error, 1)}
	a, b := mem.New(), mem.New()
	s := newSet(t, replica.Options{Quorum: 2, Outbox: t.TempDir(), Linger: 20 * time.Millisecond},
		mirror("a", a), mirror("slow", slow), mirror("b", b))
	mustPut(t, s, "obj", []byte("payload"))
	select {
	case err := <-slow.returned:
		if err == nil {
			t.Error("the slow Put returned without its context being cancelled")
		}
	default:
		t.Fatal("Put returned while the slow mirror's Put still ran")
	}
	if q := s.Queued(); q["slow"] != 1 || len(q) != 1 {
		t.Fatalf("Queued() = %v, want map[slow:1]", q)
	}
	checkHas(t, "a", a, "obj", []byte("payload"))
	checkHas(t, "b", b, "obj", []byte("payload"))
}

// downSet returns a set of three mirrors, each recording its Puts, that
// fail every call until up is called.
type downSet struct {
	faults []*faulty.Store
	recs   []*recorder
	inner  []*mem.Store
	ms     []replica.Mirror
}

func newDownSet() *downSet {
	d := &downSet{}
	for i := range 3 {
		m := mem.New()
		rec := &recorder{Store: m}
		f := faulty.New(rec)
		for _, meth := range []faulty.Method{faulty.Put, faulty.Get, faulty.Stat, faulty.List, faulty.Delete} {
			f.FailPrefix(meth, "", errDown)
		}
		d.inner = append(d.inner, m)
		d.recs = append(d.recs, rec)
		d.faults = append(d.faults, f)
		d.ms = append(d.ms, mirror(string(rune('a'+i)), f))
	}
	return d
}

func (d *downSet) up() {
	for _, f := range d.faults {
		f.Reset()
	}
}

func TestAllDownNoOutbox(t *testing.T) {
	d := newDownSet()
	s := newSet(t, replica.Options{}, d.ms...)
	checkKind(t, "Put with every mirror down", s.Put(t.Context(), "x", []byte("x")), errors.Unavailable)
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("Unsafe without an outbox = %q", u)
	}
}

// With every mirror down, writes wait in the outbox, are read from it,
// survive a restart, and are delivered oldest first when the mirrors come
// back.
func TestAllDownOutbox(t *testing.T) {
	ctx := t.Context()
	d := newDownSet()
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, d.ms...)

	var order []string
	objs := map[string][]byte{}
	put := func(s *replica.Set, name string, data []byte) {
		t.Helper()
		mustPut(t, s, name, data)
		order = append(order, name)
		objs[name] = data
	}
	// Names not in lexical order, so that oldest first differs from
	// sorted.
	put(s, "z/last-name", []byte("first written"))
	data := randBytes(2, 70000)
	put(s, hashName("data/", data), data)
	put(s, "a/first-name", []byte("third written"))

	for name, want := range objs {
		checkHas(t, "from the outbox", s, name, want)
		in, err := s.Stat(ctx, name)
		if err != nil || in.Size != int64(len(want)) {
			t.Errorf("Stat(%s) = %+v, %v; want size %d", name, in, err, len(want))
		}
		p := make([]byte, 5)
		if n, err := s.ReadAt(ctx, name, p, 1); err != nil || n != 5 || string(p) != string(want[1:6]) {
			t.Errorf("ReadAt(%s) = %d, %v, %q; want %q", name, n, err, p[:n], want[1:6])
		}
	}
	for i, f := range d.faults {
		if f.Calls(faulty.Get) != 0 {
			t.Errorf("mirror %d was asked for %d Gets; the outbox holds the objects", i, f.Calls(faulty.Get))
		}
	}
	wantSorted := slices.Sorted(slices.Values(order))
	if u := s.Unsafe(""); !slices.Equal(u, wantSorted) {
		t.Fatalf("Unsafe(\"\") = %q, want %q", u, wantSorted)
	}
	if u := s.Unsafe("data/"); len(u) != 1 || u[0] != order[1] {
		t.Errorf("Unsafe(\"data/\") = %q, want [%s]", u, order[1])
	}
	if q := s.Queued(); len(q) != 3 || q["a"] != 3 || q["b"] != 3 || q["c"] != 3 {
		t.Fatalf("Queued() = %v, want 3 for each mirror", q)
	}

	// A restart: a new set on the same outbox folder.
	s = newSet(t, replica.Options{Outbox: box}, d.ms...)
	if q := s.Queued(); len(q) != 3 || q["a"] != 3 || q["b"] != 3 || q["c"] != 3 {
		t.Fatalf("after a restart, Queued() = %v, want 3 for each mirror", q)
	}
	if u := s.Unsafe(""); !slices.Equal(u, wantSorted) {
		t.Fatalf("after a restart, Unsafe(\"\") = %q, want %q", u, wantSorted)
	}
	put(s, "m/after-restart", []byte("fourth written"))
	for name, want := range objs {
		checkHas(t, "from the outbox after a restart", s, name, want)
	}

	d.up()
	rep, err := s.Drain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 12 || len(rep.Waiting) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("Drain = %+v, want 12 delivered", rep)
	}
	for i, rec := range d.recs {
		if got := rec.Puts(); !slices.Equal(got, order) {
			t.Errorf("mirror %d received %q, want oldest first %q", i, got, order)
		}
		for name, want := range objs {
			checkHas(t, "after Drain", d.inner[i], name, want)
		}
	}
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("after Drain, Queued() = %v", q)
	}
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("after Drain, Unsafe = %q", u)
	}
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("after Drain, the outbox still holds %q", left)
	}
	// And after another restart, nothing is queued again.
	s = newSet(t, replica.Options{Outbox: box}, d.ms...)
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("after Drain and a restart, Queued() = %v", q)
	}
}

// filesUnder returns the regular files below root, relative to it.
func filesUnder(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(root, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A restart that finds bytes in the outbox that no queue names (a crash
// after the last delivery) discards them.
func TestOutboxDiscardsUnqueued(t *testing.T) {
	d := newDownSet()
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, d.ms...)
	mustPut(t, s, "x", []byte("x"))
	// Remove the queue entries by hand, as if a crash came between the
	// last delivery and the removal of the bytes.
	if err := os.RemoveAll(filepath.Join(box, "queue")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(box, "queue"), 0o700); err != nil {
		t.Fatal(err)
	}
	s = newSet(t, replica.Options{Outbox: box}, d.ms...)
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("Unsafe = %q, want nothing", u)
	}
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("the outbox still holds %q", left)
	}
}

// Deleting an object that waits in the outbox deletes it there too: it
// is not read back from this PC, and Drain does not bring it back.
func TestDeleteQueued(t *testing.T) {
	ctx := t.Context()
	d := newDownSet()
	s := newSet(t, replica.Options{Outbox: t.TempDir()}, d.ms...)
	mustPut(t, s, "gone", []byte("kept here"))
	mustPut(t, s, "stays", []byte("kept here too"))
	d.up()
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "gone", 0, -1); !errors.Is(err, errors.NotExist) {
		t.Errorf("Get after Delete = %v, want NotExist", err)
	}
	if u := s.Unsafe(""); !slices.Equal(u, []string{"stays"}) {
		t.Errorf("Unsafe after Delete = %q, want [stays]", u)
	}
	rep, err := s.Drain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Waiting) != 0 || len(rep.Errors) != 0 {
		t.Errorf("Drain = %+v, want nothing waiting and no errors", rep)
	}
	for i, m := range d.inner {
		checkLacks(t, "a deleted object after Drain", m, "gone")
		checkHas(t, "mirror "+string(rune('a'+i)), m, "stays", []byte("kept here too"))
	}
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Queued() = %v, want empty", q)
	}
}

// An object that waits in the outbox and is then written again, with
// other bytes, to a quorum: reads see the new bytes, and Drain does not
// put the old ones back.
func TestPutReplacesQueued(t *testing.T) {
	ctx := t.Context()
	d := newDownSet()
	s := newSet(t, replica.Options{Outbox: t.TempDir()}, d.ms...)
	mustPut(t, s, "head", []byte("old"))
	d.up()
	mustPut(t, s, "head", []byte("new"))
	checkHas(t, "the set", s, "head", []byte("new"))
	if _, err := s.Drain(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for i, m := range d.inner {
		checkHas(t, "after Drain, mirror "+string(rune('a'+i)), m, "head", []byte("new"))
	}
	checkHas(t, "the set after Drain", s, "head", []byte("new"))
}

// A write that reached one mirror of three stays on this PC until every
// mirror that lacks it has it, and Drain delivers it to each mirror as it
// comes back.
func TestDrainPartial(t *testing.T) {
	ctx := t.Context()
	d := newDownSet()
	d.faults[0].Reset() // a is up, b and c down: below the quorum of 2
	box := t.TempDir()
	s := newSet(t, replica.Options{Outbox: box}, d.ms...)
	mustPut(t, s, "x", []byte("one mirror only"))
	if q := s.Queued(); len(q) != 2 || q["b"] != 1 || q["c"] != 1 {
		t.Fatalf("Queued() = %v, want map[b:1 c:1]", q)
	}
	if u := s.Unsafe(""); !slices.Equal(u, []string{"x"}) {
		t.Fatalf("Unsafe = %q, want [x]", u)
	}
	d.faults[1].Reset()
	rep, err := s.Drain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || rep.Waiting["mirror-c"] != 1 {
		t.Fatalf("Drain = %+v, want 1 delivered and 1 waiting for mirror-c", rep)
	}
	// Still needed for c, but now on a quorum.
	checkHas(t, "b", d.inner[1], "x", []byte("one mirror only"))
	d.faults[2].Reset()
	if _, err := s.Drain(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkHas(t, "c", d.inner[2], "x", []byte("one mirror only"))
	if u := s.Unsafe(""); len(u) != 0 {
		t.Errorf("Unsafe after Drain = %q", u)
	}
	if left := filesUnder(t, box); len(left) != 0 {
		t.Errorf("the outbox still holds %q", left)
	}
}

// An object queued for a mirror and since deleted everywhere else (by
// another PC) has nothing left to deliver: it leaves the queue, and the
// objects queued after it are delivered.
func TestDrainDeletedElsewhere(t *testing.T) {
	ctx := t.Context()
	a, b, cInner := mem.New(), mem.New(), mem.New()
	c := faulty.New(cInner)
	c.FailPrefix(faulty.Put, "", errDown)
	s := newSet(t, replica.Options{Quorum: 2, Outbox: t.TempDir()}, mirror("a", a), mirror("b", b), mirror("c", c))
	mustPut(t, s, "x", []byte("deleted later"))
	mustPut(t, s, "y", []byte("kept"))
	for _, m := range []*mem.Store{a, b} {
		if err := m.Delete(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}
	c.Reset()
	rep, err := s.Drain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || len(rep.Waiting) != 0 || len(rep.Errors) != 0 {
		t.Errorf("Drain = %+v, want y delivered and nothing waiting", rep)
	}
	checkHas(t, "c", cInner, "y", []byte("kept"))
	checkLacks(t, "c", cInner, "x")
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Queued() = %v, want empty", q)
	}

	// While c cannot be asked, the entry stays: c might hold the object.
	c.FailPrefix(faulty.Put, "", errDown)
	mustPut(t, s, "z", []byte("z"))
	for _, m := range []*mem.Store{a, b} {
		if err := m.Delete(ctx, "z"); err != nil {
			t.Fatal(err)
		}
	}
	allDown(c)
	if _, err := s.Drain(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if q := s.Queued(); q["c"] != 1 {
		t.Errorf("with c out of reach, Queued() = %v, want map[c:1]", q)
	}
}
