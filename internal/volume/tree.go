package volume

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/journal"
)

// Change is one journal entry with the device that wrote it.
type Change struct {
	Device dvpc.DeviceID
	*journal.Entry
}

// Version returns the version the change creates.
func (c Change) Version() journal.Version {
	return journal.Version{Device: c.Device, Time: c.Time}
}

// Node is what a path holds in a merged tree.
type Node struct {
	Path string
	Change
}

// IsDir reports whether the node is a folder.
func (n *Node) IsDir() bool { return n.Op == journal.Mkdir }

// Live reports whether the node exists (is not a deletion).
func (n *Node) Live() bool { return n.Op != journal.Delete }

// Tree is the merge of a set of changes: what every path holds. It is
// computed by Merge and never changed after.
type Tree struct {
	nodes map[string]*Node           // every path ever touched, with deletions
	log   []Node                     // every change applied, where, in order
	where map[journal.Version]string // path of each version a node holds; made when first needed
	names func(dvpc.DeviceID) string // device names, for conflict copies
	// under counts, for each folder, its children that are live or have
	// live nodes below them: a folder holds something iff its count is
	// not zero. A change moves the counts of its folders only as far up
	// as one goes from empty to not or back, which for a tree filled by
	// an import is its own folder alone: a count of every live node
	// below each folder, as this was, touched every folder above every
	// change, a third of a cat's merge of the Go tree.
	under map[string]int

	histOnce sync.Once
	hist     map[string][]Change // changes applied at each path, in order (built on demand)

	kidsMu sync.Mutex
	kids   map[string][]string // folder → sorted names of live children (built on demand)
}

// Merge computes the tree of the given changes. The result depends only on
// the set of changes, never on their order in the slice: changes are
// applied in the total order of their versions (clock, then device), and
// every conflict is settled by a rule that looks only at the changes.
//
// The rules, for a change c at path p that saw version c.Base of p:
//   - If p now holds c.Base (or nothing, and c.Base is zero), c applies at p.
//   - Else, if c.Base lives elsewhere now (it was moved to a conflict copy)
//     and is still the newest there, c follows it: c continues that line.
//   - Else c is concurrent with what p holds:
//   - a deletion loses to any content: nothing is deleted that the deleting
//     device did not see;
//   - content over a deletion or a missing path simply applies;
//   - a folder over a folder merges;
//   - a folder over a file moves the file to a conflict copy;
//   - other content over content goes to a conflict copy of its own, named
//     after its device and time, so both versions survive.
//
// A change under a file (p/x where p is a file) moves the file to a conflict
// copy too, so that nothing is hidden.
func Merge(changes []Change, names func(dvpc.DeviceID) string) *Tree {
	return MergeFrom(nil, changes, names)
}

// MergeFrom is Merge starting from the nodes of an earlier merge (a
// checkpoint) instead of an empty tree. Every change must be newer than
// every change that made the base; the caller checks.
func MergeFrom(base []Node, changes []Change, names func(dvpc.DeviceID) string) *Tree {
	sorted := make([]Change, len(changes))
	copy(sorted, changes)
	sort.Slice(sorted, func(i, j int) bool { return changeLess(sorted[i], sorted[j]) })
	// The nodes of the changes live in the log, which is also their
	// history: a short-lived command (cat) spends most of its time having
	// the kernel hand it memory, so every map and allocation per change
	// that the merge can do without is left out. Where a version lives and
	// the history by path are made only when asked for.
	t := &Tree{
		nodes: make(map[string]*Node, len(base)+len(changes)),
		log:   make([]Node, 0, len(changes)),
		under: map[string]int{},
		names: names,
	}
	if t.names == nil {
		t.names = func(d dvpc.DeviceID) string { return d.String()[:8] }
	}
	// The base's nodes are the tree's own: a base is never changed (a
	// checkpoint's nodes, once read), and a tree changes no node, so a
	// copy of each, a million allocations on a large volume, is not made.
	for i := range base {
		t.put(&base[i])
	}
	for i, c := range sorted {
		if i > 0 && c.Version() == sorted[i-1].Version() {
			continue // the same change seen twice
		}
		t.apply(c)
	}
	return t
}

// changeLess orders changes by version; two different changes with one
// version (which only a broken or hostile device writes) are ordered by
// their encoding, so that even then the merge depends only on the set.
func changeLess(a, b Change) bool {
	va, vb := a.Version(), b.Version()
	if va != vb {
		return va.Less(vb)
	}
	return string(journal.AppendEntry(nil, a.Entry)) < string(journal.AppendEntry(nil, b.Entry))
}

func (t *Tree) apply(c Change) {
	p := c.Path
	cur := t.nodes[p]
	switch {
	case cur == nil && c.Base.IsZero(), cur != nil && cur.Version() == c.Base:
		t.set(p, c)
	case !c.Base.IsZero() && t.follows(c):
		t.set(t.where[c.Base], c)
	case c.Op == journal.Delete:
		// Concurrent deletion: the other side's content wins.
	case cur == nil || !cur.Live():
		t.set(p, c)
	case c.Op == journal.Mkdir && cur.IsDir():
		// Both made the folder; nothing to do.
	case c.Op == journal.Mkdir:
		t.relocate(cur)
		t.set(p, c)
	default:
		t.set(t.conflictPath(p, c), c)
	}
}

// follows reports whether c's base was moved to a conflict copy and is still
// the newest version there.
func (t *Tree) follows(c Change) bool {
	if t.where == nil {
		// Every version is applied once (MergeFrom skips a second change of
		// one version), so at most one path holds a version: the map made
		// from the nodes now is the one a merge that kept it all along
		// would have, for every version that is still a node's.
		t.where = make(map[journal.Version]string, len(t.nodes))
		for p, n := range t.nodes {
			if n.Device != (dvpc.DeviceID{}) {
				t.where[n.Version()] = p
			}
		}
	}
	at, ok := t.where[c.Base]
	if !ok || at == c.Path {
		return false
	}
	n := t.nodes[at]
	return n != nil && n.Version() == c.Base
}

// set applies c at path p. Content that would hide live nodes below p
// goes to a conflict copy instead.
func (t *Tree) set(p string, c Change) {
	if (c.Op == journal.Put || c.Op == journal.Symlink) && t.under[p] > 0 {
		p = t.conflictPath(p, c)
	}
	if c.Op != journal.Delete {
		t.makeParents(p)
	}
	t.record(Node{Path: p, Change: c})
}

// record logs n as applied and stores it at its path. The nodes map points
// into the log; a log that grows past its room leaves the earlier nodes
// where they were, unchanged.
func (t *Tree) record(n Node) {
	t.log = append(t.log, n)
	t.put(&t.log[len(t.log)-1])
}

// put stores n at its path, keeping the live counts of its folders and
// where its version lives, if that is kept yet.
func (t *Tree) put(n *Node) {
	old := t.nodes[n.Path]
	was := old != nil && old.Live()
	t.nodes[n.Path] = n
	if t.where != nil && n.Device != (dvpc.DeviceID{}) {
		t.where[n.Version()] = n.Path
	}
	if was != n.Live() && t.under[n.Path] == 0 {
		d := 1
		if was {
			d = -1
		}
		t.shown(n.Path, d)
	}
	t.kids = nil
}

// shown counts p, which became shown (d = 1: live, or holding live
// nodes) or stopped being so (d = -1), in its folder's count, and goes up
// while that changes whether a folder is shown.
func (t *Tree) shown(p string, d int) {
	for p != "/" {
		dir := parent(p)
		n := t.under[dir] + d
		if n == 0 {
			delete(t.under, dir)
		} else {
			t.under[dir] = n
		}
		if changed := d > 0 && n == 1 || d < 0 && n == 0; !changed {
			return // dir was shown before and is still, or was not and is not
		}
		if h := t.nodes[dir]; h != nil && h.Live() {
			return // dir is shown by itself
		}
		p = dir
	}
}

// parent is path.Dir for the canonical paths of a tree, without
// cleaning: it is called for every folder above every change merged.
func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		return p[:i]
	}
	return "/"
}

// makeParents moves any file that stands where p needs a folder. A live
// file never has live nodes below it (set and this keep it so), so the
// first folder up that is live or holds something, or the first file
// found, ends the search: nothing above it is a live file.
func (t *Tree) makeParents(p string) {
	for dir := parent(p); dir != "/"; dir = parent(dir) {
		if n := t.nodes[dir]; n != nil && n.Live() {
			if !n.IsDir() {
				t.relocate(n)
			}
			return
		}
		if t.under[dir] > 0 {
			return
		}
	}
}

// relocate moves a file node to a conflict copy of its own.
func (t *Tree) relocate(n *Node) {
	to := t.conflictPath(n.Path, n.Change)
	// The deletion left behind has a zero device id: a later change that saw
	// it has it as its base, so rule 1 applies to that change.
	t.put(&Node{Path: n.Path, Change: Change{Entry: &journal.Entry{
		Time: n.Time, Op: journal.Delete, Path: n.Path}}})
	t.record(Node{Path: to, Change: n.Change})
}

// conflictPath names the conflict copy of c at p: the device's name and the
// change's time go before the extension, and a counter makes it unique.
func (t *Tree) conflictPath(p string, c Change) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	if ext == base || len(ext) > 16 {
		ext = ""
	}
	stem := strings.TrimSuffix(base, ext)
	when := c.Time.Time().UTC().Format("2006-01-02 150405")
	name := fmt.Sprintf("%s (conflict %s %s)", stem, sanitize(t.names(c.Device)), when)
	for i := 1; ; i++ {
		q := dir + name + ext
		if i > 1 {
			q = fmt.Sprintf("%s%s %d%s", dir, name, i, ext)
		}
		if n := t.nodes[q]; n == nil || !n.Live() {
			return q
		}
	}
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '/' || r < ' ' {
			return '_'
		}
		return r
	}, s)
	s = strings.ToValidUTF8(s, "\uFFFD")
	for len(s) > 40 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

// Lookup returns the live node at p, or nil. A folder that exists only
// because something lives under it is returned as a synthetic folder node.
func (t *Tree) Lookup(p string) *Node {
	if p == "/" {
		return &Node{Path: "/", Change: Change{Entry: &journal.Entry{Op: journal.Mkdir, Path: "/", Mode: 0o755}}}
	}
	if n := t.nodes[p]; n != nil && n.Live() {
		return n
	}
	if t.under[p] > 0 {
		return &Node{Path: p, Change: Change{Entry: &journal.Entry{Op: journal.Mkdir, Path: p, Mode: 0o755}}}
	}
	return nil
}

// List returns the live children of folder p, sorted by name.
func (t *Tree) List(p string) []*Node {
	names := t.children()[p]
	out := make([]*Node, 0, len(names))
	for _, name := range names {
		if n := t.Lookup(path.Join(p, name)); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// children builds the folder → live child names map.
func (t *Tree) children() map[string][]string {
	t.kidsMu.Lock()
	defer t.kidsMu.Unlock()
	if t.kids != nil {
		return t.kids
	}
	// Each live node goes to its folder's list. No set of the paths seen:
	// at a million files, one cost two of the three seconds of a first
	// `ls`.
	kids := make(map[string][]string, len(t.under))
	for p, n := range t.nodes {
		if p != "/" && n.Live() {
			dir := path.Dir(p)
			kids[dir] = append(kids[dir], path.Base(p))
		}
	}
	// A folder that holds live nodes but is not one itself shows in its
	// folder too, and so on up.
	var hidden []string
	for dir := range kids {
		if n := t.nodes[dir]; dir != "/" && (n == nil || !n.Live()) {
			hidden = append(hidden, dir)
		}
	}
	shown := map[string]bool{}
	for _, q := range hidden {
		for ; q != "/" && !shown[q]; q = path.Dir(q) {
			if n := t.nodes[q]; n != nil && n.Live() {
				break // listed by the first loop, and so are its folders
			}
			shown[q] = true
			dir := path.Dir(q)
			kids[dir] = append(kids[dir], path.Base(q))
		}
	}
	for _, names := range kids {
		sort.Strings(names)
	}
	t.kids = kids
	return kids
}

// Walk calls fn for p and every live node under it, parents before
// children, in name order.
func (t *Tree) Walk(p string, fn func(*Node) error) error {
	n := t.Lookup(p)
	if n == nil {
		return nil
	}
	if err := fn(n); err != nil {
		return err
	}
	if !n.IsDir() {
		return nil
	}
	for _, k := range t.List(p) {
		if err := t.Walk(k.Path, fn); err != nil {
			return err
		}
	}
	return nil
}

// History returns the changes applied at p, oldest first, including
// deletions.
func (t *Tree) History(p string) []Change { return t.history()[p] }

// Paths returns every path that ever held something, sorted.
func (t *Tree) Paths() []string {
	hist := t.history()
	out := make([]string, 0, len(hist))
	for p := range hist {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// history builds the path → changes map from the log, once.
func (t *Tree) history() map[string][]Change {
	t.histOnce.Do(func() {
		t.hist = make(map[string][]Change)
		for i := range t.log {
			n := &t.log[i]
			t.hist[n.Path] = append(t.hist[n.Path], n.Change)
		}
	})
	return t.hist
}

// Head returns the newest node at p, including a deletion, or nil.
func (t *Tree) Head(p string) *Node { return t.nodes[p] }

// Before returns the changes whose clock is at or before when.
func Before(changes []Change, when time.Time) []Change {
	limit := journal.MakeHLC(when) | 0xffff
	out := make([]Change, 0, len(changes))
	for _, c := range changes {
		if c.Time <= limit {
			out = append(out, c)
		}
	}
	return out
}
