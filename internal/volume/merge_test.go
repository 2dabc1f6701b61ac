package volume

import (
	"fmt"
	"math/rand/v2"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/journal"
)

// sim is a device in a simulation: it sees some of the changes (those it
// synced) and makes new ones against its own view.
type sim struct {
	id    dvpc.DeviceID
	clock journal.HLC
	seen  []Change
}

func (s *sim) change(op journal.Op, p string, size uint64) Change {
	t := Merge(s.seen, nil)
	s.clock++
	for _, c := range s.seen {
		s.clock = max(s.clock, c.Time+1)
	}
	e := &journal.Entry{Time: s.clock, Op: op, Path: p, Base: base(t, p), Size: size}
	if op == journal.Put {
		e.Chunks = []journal.ChunkRef{{ID: dvpc.ChunkID{byte(size), byte(size >> 8)}, Size: uint32(size)}}
	}
	c := Change{Device: s.id, Entry: e}
	s.seen = append(s.seen, c)
	return c
}

// randomHistory makes devices edit a small namespace with random syncs
// between them, and returns every change made.
func randomHistory(r *rand.Rand, devices, steps int) []Change {
	sims := make([]*sim, devices)
	for i := range sims {
		sims[i] = &sim{id: dvpc.DeviceID{byte(i + 1)}}
	}
	paths := []string{"/a", "/b", "/d", "/d/x", "/d/y", "/d/e/z"}
	var all []Change
	for step := 0; step < steps; step++ {
		s := sims[r.IntN(devices)]
		switch k := r.IntN(10); {
		case k < 2: // sync with everything made so far
			s.seen = append([]Change(nil), all...)
		case k < 6:
			all = append(all, s.change(journal.Put, paths[r.IntN(len(paths))], uint64(step+1)))
		case k < 8:
			all = append(all, s.change(journal.Delete, paths[r.IntN(len(paths))], 0))
		default:
			all = append(all, s.change(journal.Mkdir, paths[r.IntN(len(paths))], 0))
		}
	}
	return all
}

// dump renders a tree for comparison.
func dump(t *Tree) string {
	var b strings.Builder
	t.Walk("/", func(n *Node) error {
		fmt.Fprintf(&b, "%s %s %d %v\n", n.Path, n.Op, n.Size, n.Version())
		return nil
	})
	return b.String()
}

// The merge depends only on the set of changes: any order of arrival gives
// the same tree.
func TestMergeOrderIndependent(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		all := randomHistory(r, 3, 60)
		want := dump(Merge(all, nil))
		for k := 0; k < 5; k++ {
			shuffled := append([]Change(nil), all...)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			// Arrival may also repeat changes (the same segment read twice).
			shuffled = append(shuffled, shuffled[:r.IntN(len(shuffled))]...)
			if got := dump(Merge(shuffled, nil)); got != want {
				t.Fatalf("seed %d: order changed the tree:\n%s\nvs\n%s", seed, got, want)
			}
		}
	}
}

// No content is lost: the newest put of each device at each path, unless
// that device itself later deleted or replaced it, is in the merged tree
// (under its path or a conflict copy).
func TestMergeKeepsEveryLatestVersion(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		all := randomHistory(r, 3, 50)
		tree := Merge(all, nil)
		live := map[journal.Version]bool{}
		tree.Walk("/", func(n *Node) error { live[n.Version()] = true; return nil })
		// The last change of each device per path, in the device's own order.
		last := map[string]Change{}
		for _, c := range all {
			last[c.Device.String()+c.Path] = c
		}
		for _, c := range last {
			if c.Op != journal.Put || superseded(all, c) {
				continue
			}
			if !live[c.Version()] {
				t.Fatalf("seed %d: %s put %s at %d was lost:\n%s", seed, c.Device.String()[:2], c.Path, c.Time, dump(tree))
			}
		}
	}
}

// superseded reports whether some change saw c and replaced it, or a
// change that saw c deleted or replaced something above it.
func superseded(all []Change, c Change) bool {
	for _, d := range all {
		if d.Base == c.Version() {
			return true
		}
		if strings.HasPrefix(c.Path, d.Path+"/") && d.Time > c.Time && d.Device == c.Device {
			return true
		}
	}
	return false
}

func TestConcurrentEditsMakeConflictCopy(t *testing.T) {
	a, b := dvpc.DeviceID{1}, dvpc.DeviceID{2}
	v0 := Change{Device: a, Entry: &journal.Entry{Time: 10 << 16, Op: journal.Put, Path: "/doc.txt", Size: 1}}
	va := Change{Device: a, Entry: &journal.Entry{Time: 20 << 16, Op: journal.Put, Path: "/doc.txt", Base: v0.Version(), Size: 2}}
	vb := Change{Device: b, Entry: &journal.Entry{Time: 30 << 16, Op: journal.Put, Path: "/doc.txt", Base: v0.Version(), Size: 3}}
	// b keeps editing its copy without having seen a's change.
	vb2 := Change{Device: b, Entry: &journal.Entry{Time: 40 << 16, Op: journal.Put, Path: "/doc.txt", Base: vb.Version(), Size: 4}}
	names := func(d dvpc.DeviceID) string { return map[byte]string{1: "laptop", 2: "desktop"}[d[0]] }
	tree := Merge([]Change{vb2, vb, va, v0}, names)
	if n := tree.Lookup("/doc.txt"); n == nil || n.Size != 2 {
		t.Fatalf("doc.txt = %+v, want a's version", n)
	}
	var copies []string
	for _, n := range tree.List("/") {
		if strings.Contains(n.Path, "conflict") {
			copies = append(copies, fmt.Sprintf("%s=%d", n.Path, n.Size))
		}
	}
	sort.Strings(copies)
	want := "/doc (conflict desktop 1970-01-01 000000).txt=4"
	if len(copies) != 1 || copies[0] != want {
		t.Fatalf("conflict copies = %v, want [%s]", copies, want)
	}
	// Each line of edits is the history of the path it ended at.
	for p, want := range map[string][]Change{"/doc.txt": {v0, va}, strings.TrimSuffix(want, "=4"): {vb, vb2}} {
		if got := versionsOf(tree.History(p)); got != versionsOf(want) {
			t.Errorf("history of %s = %s, want %s", p, got, versionsOf(want))
		}
	}
	if got := strings.Join(tree.Paths(), ","); got != "/doc (conflict desktop 1970-01-01 000000).txt,/doc.txt" {
		t.Errorf("paths = %s", got)
	}
}

func versionsOf(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%v ", c.Version())
	}
	return b.String()
}

func TestConcurrentDeleteKeepsContent(t *testing.T) {
	a, b := dvpc.DeviceID{1}, dvpc.DeviceID{2}
	v0 := Change{Device: a, Entry: &journal.Entry{Time: 1 << 16, Op: journal.Put, Path: "/f", Size: 1}}
	del := Change{Device: a, Entry: &journal.Entry{Time: 3 << 16, Op: journal.Delete, Path: "/f", Base: v0.Version()}}
	edit := Change{Device: b, Entry: &journal.Entry{Time: 2 << 16, Op: journal.Put, Path: "/f", Base: v0.Version(), Size: 5}}
	if n := Merge([]Change{v0, del, edit}, nil).Lookup("/f"); n == nil || n.Size != 5 {
		t.Fatalf("/f = %+v, want b's edit kept", n)
	}
}

func TestFileUnderFileIsNotHidden(t *testing.T) {
	a, b := dvpc.DeviceID{1}, dvpc.DeviceID{2}
	f := Change{Device: a, Entry: &journal.Entry{Time: 1 << 16, Op: journal.Put, Path: "/x", Size: 1}}
	g := Change{Device: b, Entry: &journal.Entry{Time: 2 << 16, Op: journal.Put, Path: "/x/y", Size: 2}}
	tree := Merge([]Change{f, g}, nil)
	if n := tree.Lookup("/x"); n == nil || !n.IsDir() {
		t.Fatalf("/x = %+v, want a folder", n)
	}
	found := false
	tree.Walk("/", func(n *Node) error {
		found = found || (n.Size == 1 && strings.Contains(n.Path, "conflict"))
		return nil
	})
	if !found {
		t.Fatalf("the file /x was hidden:\n%s", dump(tree))
	}
	// The file's version is in the history of where it was and of its
	// conflict copy, where it went.
	for _, p := range tree.Paths() {
		if want := []Change{f}; p != "/x/y" && versionsOf(tree.History(p)) != versionsOf(want) {
			t.Errorf("history of %s = %s, want %s", p, versionsOf(tree.History(p)), versionsOf(want))
		}
	}
	if n := len(tree.Paths()); n != 3 {
		t.Errorf("%d paths have a history (%v), want /x, its conflict copy and /x/y", n, tree.Paths())
	}
}

// A folder's listing is every live node whose folder it is, and every
// folder that is not a live node but holds live ones, in name order: the
// same as a search through every node gives.
func TestListAgreesWithSearch(t *testing.T) {
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		tree := Merge(randomHistory(r, 3, 60), nil)
		// The brute force: each live node and all its folders.
		want := map[string][]string{}
		seen := map[string]bool{}
		for p, n := range tree.nodes {
			if !n.Live() {
				continue
			}
			for q := p; q != "/"; q = parent(q) {
				if !seen[q] {
					seen[q] = true
					want[parent(q)] = append(want[parent(q)], q[strings.LastIndexByte(q, '/')+1:])
				}
			}
		}
		got := tree.children()
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d folders listed, want %d", seed, len(got), len(want))
		}
		for dir, names := range want {
			sort.Strings(names)
			if strings.Join(got[dir], ",") != strings.Join(names, ",") {
				t.Fatalf("seed %d: %s lists %v, want %v", seed, dir, got[dir], names)
			}
		}
	}
}

// The folder counts the merge keeps say of every folder whether a live
// node is below it, and no live file has a live node below it (what lets
// makeParents stop early), whether the tree was merged from nothing or
// from the nodes of an earlier merge, as from a checkpoint.
func TestMergeFolderCounts(t *testing.T) {
	check := func(seed uint64, tree *Tree) {
		t.Helper()
		below := map[string]bool{}
		for p, n := range tree.nodes {
			if !n.Live() {
				continue
			}
			for q := parent(p); ; q = parent(q) {
				below[q] = true
				if f := tree.nodes[q]; q != "/" && f != nil && f.Live() && !f.IsDir() {
					t.Fatalf("seed %d: the file %s has %s below it:\n%s", seed, q, p, dump(tree))
				}
				if q == "/" {
					break
				}
			}
		}
		// A folder counts its children that are live or hold live nodes.
		want := map[string]int{}
		for q := range below {
			if q != "/" {
				want[parent(q)]++
			}
		}
		for p, n := range tree.nodes {
			if n.Live() && !below[p] {
				want[parent(p)]++
			}
		}
		for dir, k := range tree.under {
			if k != want[dir] {
				t.Fatalf("seed %d: %s counts %d, want %d:\n%s", seed, dir, k, want[dir], dump(tree))
			}
		}
		if len(tree.under) != len(want) {
			t.Fatalf("seed %d: %d folders counted, want %d", seed, len(tree.under), len(want))
		}
	}
	// A file two folders above a change, and one a folder above.
	a := dvpc.DeviceID{1}
	put := func(t journal.HLC, p string) Change {
		return Change{Device: a, Entry: &journal.Entry{Time: t << 16, Op: journal.Put, Path: p, Size: 1}}
	}
	for _, h := range [][]Change{
		{put(1, "/d"), put(2, "/d/e/z")},
		{put(1, "/d"), put(2, "/d/e/z"), put(3, "/d/e"), put(4, "/d/e/z/w")},
	} {
		deep := Merge(h, nil)
		check(0, deep)
		if n := deep.Lookup(h[len(h)-1].Path); n == nil {
			t.Fatalf("%s is missing:\n%s", h[len(h)-1].Path, dump(deep))
		}
	}
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 4))
		all := randomHistory(r, 3, 80)
		check(seed, Merge(all, nil))
		// Half of it merged, its nodes as the base of the rest.
		sort.Slice(all, func(i, j int) bool { return changeLess(all[i], all[j]) })
		half := Merge(all[:len(all)/2], nil)
		var base []Node
		for _, n := range half.nodes {
			base = append(base, *n)
		}
		check(seed, MergeFrom(base, all[len(all)/2:], nil))
	}
}

func TestParentIsDir(t *testing.T) {
	for _, p := range []string{"/", "/a", "/a/b", "/a/b/c.txt", "/é/ü"} {
		if got, want := parent(p), path.Dir(p); got != want {
			t.Errorf("parent(%q) = %q, want %q", p, got, want)
		}
	}
}
