package replica_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/replica"
)

// checkFixture is four dir mirrors holding ten objects, of which b lacks
// two, c holds one damaged (same size, other bytes) and d one of the
// wrong size.
type checkFixture struct {
	set   *replica.Set
	dirs  []*dir.Store
	names []string
	data  map[string][]byte
	want  []replica.Problem // what Check finds by name and size
	bad   replica.Problem   // what only ReadData finds
}

func newCheckFixture(t *testing.T) *checkFixture {
	f := &checkFixture{data: map[string][]byte{}}
	var ms []replica.Mirror
	for _, id := range []string{"a", "b", "c", "d"} {
		d := newDir(t)
		f.dirs = append(f.dirs, d)
		ms = append(ms, mirror(id, d))
	}
	f.set = newSet(t, replica.Options{Quorum: 2}, ms...)
	for i := range 10 {
		b := randBytes(uint64(100+i), 1000+300*i)
		name := hashName("data/", b)
		mustPut(t, f.set, name, b)
		f.names = append(f.names, name)
		f.data[name] = b
	}
	b, c, d := f.dirs[1], f.dirs[2], f.dirs[3]
	for _, n := range f.names[:2] {
		if err := b.Delete(t.Context(), n); err != nil {
			t.Fatal(err)
		}
		f.want = append(f.want, replica.Problem{Name: n, Mirror: "mirror-b", Damage: "missing"})
	}
	n := f.names[2]
	bad := slices.Clone(f.data[n])
	bad[len(bad)/3] ^= 0x80
	writeFile(t, c, n, bad)
	f.bad = replica.Problem{Name: n, Mirror: "mirror-c", Damage: "damaged"}
	n = f.names[3]
	writeFile(t, d, n, f.data[n][:len(f.data[n])-10])
	f.want = append(f.want, replica.Problem{Name: n, Mirror: "mirror-d", Damage: "size differs"})
	sortProblems(f.want)
	return f
}

// writeFile replaces the file of object name in d behind its back.
func writeFile(t *testing.T, d *dir.Store, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(d.Root(), filepath.FromSlash(name)), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sortProblems(ps []replica.Problem) {
	slices.SortFunc(ps, func(a, b replica.Problem) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Mirror, b.Mirror)
	})
}

// snapshot returns every file under the mirrors' folders with its bytes.
func (f *checkFixture) snapshot(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, d := range f.dirs {
		for _, rel := range filesUnder(t, d.Root()) {
			b, err := os.ReadFile(filepath.Join(d.Root(), rel))
			if err != nil {
				t.Fatal(err)
			}
			out[d.Root()+"/"+rel] = string(b)
		}
	}
	return out
}

// checkAllGood fails t unless every mirror holds every object intact.
func (f *checkFixture) checkAllGood(t *testing.T) {
	t.Helper()
	for i, d := range f.dirs {
		for _, n := range f.names {
			checkHas(t, "mirror "+string(rune('a'+i)), d, n, f.data[n])
		}
	}
}

func TestCheckFinds(t *testing.T) {
	f := newCheckFixture(t)
	before := f.snapshot(t)
	for _, readData := range []bool{false, true} {
		rep, err := f.set.Check(t.Context(), replica.CheckOptions{ReadData: readData})
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(f.want)
		if readData {
			want = append(want, f.bad)
			sortProblems(want)
		}
		if !slices.Equal(rep.Problems, want) {
			t.Errorf("Check(ReadData: %v) found\n%v\nwant\n%v", readData, rep.Problems, want)
		}
		if rep.Objects != 10 || rep.Repaired != 0 || len(rep.Failed) != 0 || len(rep.BelowQuorum) != 0 ||
			len(rep.Unreachable) != 0 || len(rep.Differ) != 0 {
			t.Errorf("Check(ReadData: %v) = %+v, want 10 objects and only the problems", readData, rep)
		}
	}
	if after := f.snapshot(t); !mapsEqual(before, after) {
		t.Error("Check without Repair changed the mirrors")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestCheckRepair(t *testing.T) {
	f := newCheckFixture(t)
	var mu sync.Mutex
	var last replica.Progress
	rep, err := f.set.Check(t.Context(), replica.CheckOptions{Repair: true, ReadData: true,
		Progress: func(p replica.Progress) {
			mu.Lock()
			defer mu.Unlock()
			last = p
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(f.want), f.bad)
	sortProblems(want)
	if !slices.Equal(rep.Problems, want) || rep.Repaired != 4 || len(rep.Failed) != 0 || len(rep.BelowQuorum) != 0 {
		t.Fatalf("Check(Repair, ReadData) = %+v, want %v repaired", rep, want)
	}
	if last.TotalObjects != 10 || last.Bytes == 0 {
		t.Errorf("last progress = %+v, want 10 objects in all and some bytes", last)
	}
	f.checkAllGood(t)
	rep, err = f.set.Check(t.Context(), replica.CheckOptions{ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 || rep.Objects != 10 {
		t.Errorf("Check after repair = %+v, want no problems", rep)
	}
}

// Without ReadData, repair fixes what names and sizes show, and leaves a
// damaged copy of the right size for a Check that reads it.
func TestCheckRepairByName(t *testing.T) {
	f := newCheckFixture(t)
	rep, err := f.set.Check(t.Context(), replica.CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Problems, f.want) || rep.Repaired != len(f.want) || len(rep.Failed) != 0 {
		t.Fatalf("Check(Repair) = %+v, want %v repaired", rep, f.want)
	}
	rep, err = f.set.Check(t.Context(), replica.CheckOptions{Repair: true, ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Problems, []replica.Problem{f.bad}) || rep.Repaired != 1 {
		t.Fatalf("Check(Repair, ReadData) after a repair by name = %+v, want only %v, repaired", rep, f.bad)
	}
	f.checkAllGood(t)
}

// Two copies of different sizes, one good: Check tells them apart by
// their hash, every time, and repairs the bad one.
func TestCheckSizeTie(t *testing.T) {
	a, b := newDir(t), newDir(t)
	s := newSet(t, replica.Options{}, mirror("a", a), mirror("b", b))
	data := randBytes(20, 4000)
	name := hashName("data/", data)
	mustPut(t, s, name, data)
	writeFile(t, b, name, data[:3000])
	want := []replica.Problem{{Name: name, Mirror: "mirror-b", Damage: "size differs"}}
	for i := range 20 {
		rep, err := s.Check(t.Context(), replica.CheckOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rep.Problems, want) {
			t.Fatalf("Check #%d found %v, want %v", i, rep.Problems, want)
		}
	}
	rep, err := s.Check(t.Context(), replica.CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Repaired != 1 || len(rep.Failed) != 0 {
		t.Fatalf("Check(Repair) = %+v, want 1 repaired", rep)
	}
	checkHas(t, "b", b, name, data)
}

// Repair between folder mirrors has the kernel copy the file; a copy
// damaged in place (same size, found only by reading it) is refused by
// its hash, and the object is repaired from a good copy instead: here one
// on a mirror that could not be listed but can be read.
func TestCheckRepairFromDamagedFile(t *testing.T) {
	a, b, c := newDir(t), newDir(t), newDir(t)
	unlisted := faulty.New(c)
	unlisted.Add(faulty.Rule{Method: faulty.List, Effect: faulty.Fail})
	s := newSet(t, replica.Options{}, mirror("a", a), mirror("b", b), mirror("c", unlisted))
	data := randBytes(21, 3<<20)
	name := hashName("data/", data)
	mustPut(t, s, name, data)
	if err := b.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	damaged := slices.Clone(data)
	damaged[len(damaged)-5] ^= 1
	writeFile(t, a, name, damaged)
	rep, err := s.Check(t.Context(), replica.CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []replica.Problem{{Name: name, Mirror: "mirror-b", Damage: "missing"}}
	if !slices.Equal(rep.Problems, want) || rep.Repaired != 1 || len(rep.Failed) != 0 {
		t.Fatalf("Check(Repair) = %+v, want %v repaired", rep, want)
	}
	checkHas(t, "b", b, name, data)
}

// Copies of an object not named by a hash that differ are reported, not
// repaired: there is no telling which is right.
func TestCheckDiffer(t *testing.T) {
	a, b := mem.New(), mem.New()
	mustPut(t, a, "meta/head", []byte("one"))
	mustPut(t, b, "meta/head", []byte("three"))
	s := newSet(t, replica.Options{}, mirror("a", a), mirror("b", b))
	rep, err := s.Check(t.Context(), replica.CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Differ, []string{"meta/head"}) || len(rep.Problems) != 0 || rep.Repaired != 0 {
		t.Errorf("Check = %+v, want meta/head in Differ and nothing repaired", rep)
	}
	checkHas(t, "a", a, "meta/head", []byte("one"))
	checkHas(t, "b", b, "meta/head", []byte("three"))
}

// An object on one mirror, when the quorum is two and repair reaches no
// other, stays below the quorum; mirrors that cannot be listed are named.
func TestCheckBelowQuorum(t *testing.T) {
	a := mem.New()
	only := []byte("on a alone")
	both := []byte("on a and b")
	mustPut(t, a, "only", only)
	mustPut(t, a, "both", both)
	bInner := mem.New()
	mustPut(t, bInner, "both", both)
	b := faulty.New(bInner)
	b.FailPrefix(faulty.Put, "", errDown) // listed, but takes no writes
	c := faulty.New(mem.New())
	allDown(c)
	s := newSet(t, replica.Options{Quorum: 2}, mirror("a", a), mirror("b", b), mirror("c", c))
	rep, err := s.Check(t.Context(), replica.CheckOptions{Repair: true, ReadData: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.BelowQuorum, []string{"only"}) {
		t.Errorf("BelowQuorum = %q, want [only]", rep.BelowQuorum)
	}
	if len(rep.Unreachable) != 1 || !strings.HasPrefix(rep.Unreachable[0], "mirror-c: ") {
		t.Errorf("Unreachable = %q, want mirror-c", rep.Unreachable)
	}
	want := []replica.Problem{{Name: "only", Mirror: "mirror-b", Damage: "missing"}}
	if !slices.Equal(rep.Problems, want) || rep.Repaired != 0 {
		t.Errorf("Problems = %v, repaired %d; want %v, none repaired", rep.Problems, rep.Repaired, want)
	}
	if len(rep.Failed) != 1 || rep.Failed[0].Name != "only" || rep.Failed[0].Mirror != "mirror-b" {
		t.Errorf("Failed = %v, want only on mirror-b", rep.Failed)
	}
	if rep.Objects != 2 {
		t.Errorf("Objects = %d, want 2", rep.Objects)
	}

	// Once b takes writes, repair brings the object up to the quorum.
	b.Reset()
	rep, err = s.Check(t.Context(), replica.CheckOptions{Repair: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.BelowQuorum) != 0 || rep.Repaired != 1 {
		t.Errorf("Check with b back = %+v, want 1 repaired and nothing below the quorum", rep)
	}
	checkHas(t, "b", bInner, "only", only)
}

func TestCheckNothingReachable(t *testing.T) {
	c := faulty.New(mem.New())
	allDown(c)
	s := newSet(t, replica.Options{}, mirror("c", c))
	_, err := s.Check(t.Context(), replica.CheckOptions{})
	checkKind(t, "Check with no mirror reachable", err, errors.Unavailable)
}

// Lacking names what a listing found on other mirrors and not on one,
// unless the outbox already holds it for that mirror.
func TestLacking(t *testing.T) {
	a, b := mem.New(), mem.New()
	cInner := mem.New()
	c := faulty.New(cInner)
	s := newSet(t, replica.Options{Quorum: 2, Outbox: t.TempDir()}, mirror("a", a), mirror("b", b), mirror("c", c))
	mustPut(t, s, "journal/1", []byte("1"))
	mustPut(t, s, "journal/2", []byte("2"))
	mustPut(t, a, "journal/3", []byte("3")) // written by another PC, not yet on c
	mustPut(t, b, "journal/3", []byte("3"))

	if got := s.Lacking("c", "journal/"); len(got) != 0 {
		t.Errorf("Lacking before any List = %q", got)
	}
	if got := names(t, s, "journal/"); !slices.Equal(got, []string{"journal/1", "journal/2", "journal/3"}) {
		t.Fatalf("List = %q", got)
	}
	if got := s.Lacking("c", "journal/"); !slices.Equal(got, []string{"journal/3"}) {
		t.Errorf("Lacking(c) = %q, want [journal/3]", got)
	}
	for _, id := range []string{"a", "b"} {
		if got := s.Lacking(id, "journal/"); len(got) != 0 {
			t.Errorf("Lacking(%s) = %q, want nothing", id, got)
		}
	}
	if got := s.Lacking("c", "other/"); len(got) != 0 {
		t.Errorf("Lacking(c, other/) = %q, want nothing", got)
	}

	// journal/4 waits in the outbox for c: it is not lacking, it is on its
	// way.
	c.FailPrefix(faulty.Put, "", errDown)
	mustPut(t, s, "journal/4", []byte("4"))
	if q := s.Queued(); q["c"] != 1 {
		t.Fatalf("Queued() = %v, want journal/4 queued for c", q)
	}
	names(t, s, "journal/")
	if got := s.Lacking("c", "journal/"); !slices.Equal(got, []string{"journal/3"}) {
		t.Errorf("Lacking(c) with journal/4 queued = %q, want [journal/3]", got)
	}
	// A listing of another prefix forgets nothing of this one.
	names(t, s, "other/")
	if got := s.Lacking("c", "journal/"); !slices.Equal(got, []string{"journal/3"}) {
		t.Errorf("Lacking(c) after listing other/ = %q, want [journal/3]", got)
	}
	// Once c has it, the next listing forgets it.
	mustPut(t, cInner, "journal/3", []byte("3"))
	names(t, s, "journal/")
	if got := s.Lacking("c", "journal/"); len(got) != 0 {
		t.Errorf("Lacking(c) after c caught up = %q, want nothing", got)
	}
}

// List is the union of the mirrors and the outbox, and fails only when no
// mirror answers.
func TestList(t *testing.T) {
	a := faulty.New(mem.New())
	b := mem.New()
	s := newSet(t, replica.Options{Outbox: t.TempDir()}, mirror("a", a), mirror("b", b))
	mustPut(t, s, "x/1", []byte("1"))
	mustPut(t, b, "x/2", []byte("2"))
	allDown(a)
	mustPut(t, s, "x/3", []byte("3")) // below the quorum: kept here
	if got := names(t, s, "x/"); !slices.Equal(got, []string{"x/1", "x/2", "x/3"}) {
		t.Errorf("List = %q, want x/1 x/2 x/3", got)
	}
	s2 := newSet(t, replica.Options{}, mirror("a", a))
	err := s2.List(t.Context(), "x/", func(blob.Info) error { return nil })
	checkKind(t, "List with no mirror answering", err, errors.Unavailable)
}
