package volume

import (
	"context"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/pack"
)

// base returns the version of p that this device sees now: what a change
// of p made now replaces.
func base(t *Tree, p string) journal.Version {
	if n := t.Head(p); n != nil {
		return n.Version()
	}
	return journal.Version{}
}

// clean checks and cleans a path given by a user.
func clean(p string) (string, error) { return journal.CleanPath(p) }

// newChunker returns a Chunker that reads r with the volume's key and
// parameters.
func (v *Volume) newChunker(r io.Reader) *chunk.Chunker {
	return chunk.New(r, v.keys.Gear, v.cfg.Chunk)
}

// StoreFile chunks the contents of r into w and returns the chunk list and
// size.
func (v *Volume) StoreFile(w *Writer, r io.Reader) ([]journal.ChunkRef, uint64, error) {
	c := v.newChunker(r)
	var refs []journal.ChunkRef
	var size uint64
	for {
		data, err := c.Next()
		if err == io.EOF {
			return refs, size, nil
		}
		if err != nil {
			return nil, 0, errors.E(errors.IO, err)
		}
		ref, err := w.StoreChunk(data)
		if err != nil {
			return nil, 0, err
		}
		refs = append(refs, ref)
		size += uint64(len(data))
	}
}

// PutFile stores the local file at local as the file p of the volume.
func (v *Volume) PutFile(ctx context.Context, local, p string) error {
	const op errors.Op = "dvpc put"
	p, err := clean(p)
	if err != nil {
		return errors.E(op, err)
	}
	t := v.Tree()
	if n := t.Lookup(p); n != nil && n.IsDir() {
		p = path.Join(p, path.Base(local))
	}
	if err := checkParent(t, p); err != nil {
		return errors.E(op, err)
	}
	f, err := os.Open(local)
	if err != nil {
		return errors.E(op, errors.NotExist, local, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return errors.E(op, errors.IO, local, err)
	}
	if fi.IsDir() {
		return errors.E(op, errors.IsDir, local, errors.Str("is a folder: use 'dvpc import' for folders"))
	}
	// A put of a large file killed before its commit left packs behind:
	// adopt them, so that this put does not upload them again.
	if fi.Size() > pack.TargetSize {
		if _, err := v.RecoverPacks(ctx); err != nil {
			return errors.E(op, err)
		}
	}
	w := v.NewWriter(ctx)
	defer w.Close()
	refs, size, err := v.StoreFile(w, f)
	if err != nil {
		return errors.E(op, local, err)
	}
	w.Add(journal.Entry{Op: journal.Put, Path: p, Base: base(t, p), Mode: uint32(fi.Mode().Perm()),
		MTime: fi.ModTime().UnixNano(), Size: size, Chunks: refs})
	return w.Commit(ctx)
}

// checkParent refuses a path whose parent is a file.
func checkParent(t *Tree, p string) error {
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if n := t.Lookup(dir); n != nil {
			if !n.IsDir() {
				return errors.E(errors.NotDir, dir, errors.Str("is a file, not a folder"))
			}
			return nil
		}
	}
	return nil
}

// Mkdir makes the folder p and any missing parents.
func (v *Volume) Mkdir(ctx context.Context, p string, mode uint32) error {
	const op errors.Op = "dvpc mkdir"
	p, err := clean(p)
	if err != nil {
		return errors.E(op, err)
	}
	t := v.Tree()
	if n := t.Lookup(p); n != nil {
		return errors.E(op, errors.Exist, p)
	}
	if err := checkParent(t, p); err != nil {
		return errors.E(op, err)
	}
	w := v.NewWriter(ctx)
	defer w.Close()
	var missing []string
	for dir := p; dir != "/" && t.Lookup(dir) == nil; dir = path.Dir(dir) {
		missing = append(missing, dir)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		w.Add(journal.Entry{Op: journal.Mkdir, Path: missing[i], Base: base(t, missing[i]), Mode: mode, MTime: v.now().UnixNano()})
	}
	return w.Commit(ctx)
}

// Remove deletes p; a non-empty folder only if recursive.
func (v *Volume) Remove(ctx context.Context, p string, recursive bool) error {
	const op errors.Op = "dvpc rm"
	p, err := clean(p)
	if err != nil {
		return errors.E(op, err)
	}
	if p == "/" {
		return errors.E(op, errors.Invalid, p, errors.Str("cannot remove the root folder"))
	}
	t := v.Tree()
	n := t.Lookup(p)
	if n == nil {
		return errors.E(op, errors.NotExist, p)
	}
	if n.IsDir() && !recursive && len(t.List(p)) > 0 {
		return errors.E(op, errors.NotEmpty, p, errors.Str("folder not empty: use -r to remove it and everything in it"))
	}
	var all []*Node
	t.Walk(p, func(n *Node) error { all = append(all, n); return nil })
	w := v.NewWriter(ctx)
	defer w.Close()
	for i := len(all) - 1; i >= 0; i-- { // children before parents
		w.Add(journal.Entry{Op: journal.Delete, Path: all[i].Path, Base: base(t, all[i].Path)})
	}
	return w.Commit(ctx)
}

// Move renames src to dst. If dst is a folder, src moves into it.
func (v *Volume) Move(ctx context.Context, src, dst string) error {
	const op errors.Op = "dvpc mv"
	src, err := clean(src)
	if err != nil {
		return errors.E(op, err)
	}
	if dst, err = clean(dst); err != nil {
		return errors.E(op, err)
	}
	t := v.Tree()
	n := t.Lookup(src)
	if n == nil || src == "/" {
		return errors.E(op, errors.NotExist, src)
	}
	if d := t.Lookup(dst); d != nil && d.IsDir() {
		dst = path.Join(dst, path.Base(src))
	}
	if dst == src {
		return nil
	}
	if strings.HasPrefix(dst, src+"/") {
		return errors.E(op, errors.Invalid, dst, errors.Str("cannot move a folder into itself"))
	}
	if d := t.Lookup(dst); d != nil && d.IsDir() != n.IsDir() {
		return errors.E(op, errors.Exist, dst, errors.Str("exists and is of another kind"))
	}
	if err := checkParent(t, dst); err != nil {
		return errors.E(op, err)
	}
	var all []*Node
	t.Walk(src, func(n *Node) error { all = append(all, n); return nil })
	w := v.NewWriter(ctx)
	defer w.Close()
	for _, n := range all {
		to := dst + strings.TrimPrefix(n.Path, src)
		e := *n.Entry
		e.Path, e.Base = to, base(t, to)
		w.Add(e)
	}
	for i := len(all) - 1; i >= 0; i-- {
		w.Add(journal.Entry{Op: journal.Delete, Path: all[i].Path, Base: base(t, all[i].Path)})
	}
	return w.Commit(ctx)
}

// Chmod sets the permission bits of p.
func (v *Volume) Chmod(ctx context.Context, p string, mode uint32) error {
	const op errors.Op = "dvpc chmod"
	p, err := clean(p)
	if err != nil {
		return errors.E(op, err)
	}
	t := v.Tree()
	n := t.Lookup(p)
	if n == nil {
		return errors.E(op, errors.NotExist, p)
	}
	e := *n.Entry
	e.Path, e.Base, e.Mode = p, base(t, p), mode&0o7777
	w := v.NewWriter(ctx)
	defer w.Close()
	w.Add(e)
	return w.Commit(ctx)
}

// Restore brings back p as it was at the moment when, as a new version: a
// file gets its old content; a folder gets every file and folder it held
// then (files added since stay). Nothing later is lost: it stays in the
// history.
func (v *Volume) Restore(ctx context.Context, p string, when time.Time) (int, error) {
	const op errors.Op = "dvpc restore"
	p, err := clean(p)
	if err != nil {
		return 0, errors.E(op, err)
	}
	old, err := v.TreeAt(ctx, when)
	if err != nil {
		return 0, errors.E(op, err)
	}
	if old.Lookup(p) == nil {
		return 0, errors.E(op, errors.NotExist, p, errors.Str("did not exist at "+when.Format(time.RFC3339)))
	}
	t := v.Tree()
	w := v.NewWriter(ctx)
	defer w.Close()
	n := 0
	old.Walk(p, func(o *Node) error {
		if o.Path == "/" {
			return nil
		}
		if cur := t.Lookup(o.Path); cur != nil && sameContent(cur, o) {
			return nil
		}
		e := *o.Entry
		e.Path, e.Base = o.Path, base(t, o.Path)
		w.Add(e)
		n++
		return nil
	})
	return n, w.Commit(ctx)
}

// sameContent reports whether two nodes hold the same thing.
func sameContent(a, b *Node) bool {
	if a.Op != b.Op || a.Mode != b.Mode || a.Size != b.Size || a.Target != b.Target || len(a.Chunks) != len(b.Chunks) {
		return false
	}
	for i := range a.Chunks {
		if a.Chunks[i] != b.Chunks[i] {
			return false
		}
	}
	return a.Op != journal.Put || a.MTime == b.MTime
}

// Versions returns the history of p: every change that landed at p, oldest
// first. For a folder, the changes of everything under it too.
func (v *Volume) Versions(ctx context.Context, p string) ([]*Node, error) {
	p, err := clean(p)
	if err != nil {
		return nil, err
	}
	if err := v.loadHistory(ctx); err != nil {
		return nil, err
	}
	t := v.Tree()
	var out []*Node
	add := func(q string) {
		for _, c := range t.History(q) {
			out = append(out, &Node{Path: q, Change: c})
		}
	}
	add(p)
	if n := t.Lookup(p); n == nil || n.IsDir() {
		prefix := strings.TrimSuffix(p, "/") + "/"
		for _, q := range t.Paths() {
			if strings.HasPrefix(q, prefix) {
				add(q)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.E(errors.NotExist, p, errors.Str("no version of this path is known"))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Version().Less(out[j].Version()) })
	return out, nil
}
