// Package mount shows a volume as a file system, through FUSE (go-fuse).
//
// This first version is read-only: the volume's current tree, brought up
// to date by Refresh (the CLI calls it every few seconds and when a server
// says something changed), every file's content fetched and verified as it
// is read, and time travel: DIR/.dvpc/at/<RFC 3339 time>/ is the whole
// tree as it was at that moment, for any moment. A file open here keeps
// the version it was opened at. Writing and the local cache come next
// (docs/ARCHITECTURE.md).
package mount

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/volume"
)

// Options configure Mount.
type Options struct {
	// Log receives a line for every read that fails (the file, the
	// cause); slog.Default() if nil.
	Log *slog.Logger
	// Debug logs every FUSE request.
	Debug bool
}

// Control is the name of the folder at the root that holds time travel.
const Control = ".dvpc"

// Mounted is a running mount.
type Mounted struct {
	*fuse.Server
	fs *fsys
}

// Refresh reads what is new on the mirrors and shows it: new and changed
// files appear, removed ones go. Files open keep the version they opened.
func (m *Mounted) Refresh(ctx context.Context) error {
	if err := m.fs.vol.Sync(ctx); err != nil {
		return err
	}
	m.fs.cur.Store(m.fs.vol.Tree())
	return nil
}

// Mount mounts v at dir; Unmount it (or unmount dir) to end. As root it
// mounts with mount(2) directly, else through fusermount.
func Mount(dir string, v *volume.Volume, o Options) (*Mounted, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	f := &fsys{vol: v, log: o.Log, uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), at: map[string]*volume.Tree{}}
	f.cur.Store(v.Tree())
	root := &dirNode{fs: f, path: "/", top: true}
	sec := time.Second
	opts := &fs.Options{
		EntryTimeout: &sec,
		AttrTimeout:  &sec,
		MountOptions: fuse.MountOptions{
			FsName:            "dvpc",
			Name:              "dvpc",
			DirectMountStrict: os.Getuid() == 0,
			MaxReadAhead:      1 << 20,
			Debug:             o.Debug,
		},
		UID: f.uid,
		GID: f.gid,
	}
	srv, err := fs.Mount(dir, root, opts)
	if err != nil {
		return nil, err
	}
	return &Mounted{Server: srv, fs: f}, nil
}

// ino is the inode number of path in the tree a folder of time travel
// names ("" for the current tree): the same for the same file across
// refreshes, so programs that compare inode numbers (find, git, rsync)
// see one file.
func ino(at, p string) uint64 {
	if at == "" && p == "/" {
		return 1
	}
	h := fnv.New64a()
	h.Write([]byte(at))
	h.Write([]byte{0})
	h.Write([]byte(p))
	return h.Sum64() | 2 // never 0 or 1
}

// fsys is what every node of one mount shares.
type fsys struct {
	vol      *volume.Volume
	log      *slog.Logger
	uid, gid uint32

	cur atomic.Pointer[volume.Tree] // the current tree

	mu sync.Mutex
	at map[string]*volume.Tree // trees of time travel, by the folder's name
}

// treeAt returns the tree as of the moment a time-travel folder names.
func (f *fsys) treeAt(ctx context.Context, name string) (*volume.Tree, syscall.Errno) {
	when, err := time.Parse(time.RFC3339Nano, name)
	if err != nil {
		return nil, syscall.ENOENT
	}
	f.mu.Lock()
	t := f.at[name]
	f.mu.Unlock()
	if t != nil {
		return t, 0
	}
	t, err = f.vol.TreeAt(ctx, when)
	if err != nil {
		f.log.Error("dvpc mount: cannot read the history", "at", name, "err", err)
		return nil, syscall.EIO
	}
	f.mu.Lock()
	if len(f.at) > 64 { // a bound, not a cache policy: trees are cheap to merge again
		f.at = map[string]*volume.Tree{}
	}
	f.at[name] = t
	f.mu.Unlock()
	return t, 0
}

// attr fills out with what n holds.
func (f *fsys) attr(n *volume.Node, out *fuse.Attr) {
	out.Mode = n.Mode & 0o7777
	switch n.Op {
	case journal.Mkdir:
		out.Mode |= syscall.S_IFDIR
		out.Nlink = 2
	case journal.Symlink:
		out.Mode |= syscall.S_IFLNK
		out.Size = uint64(len(n.Target))
		out.Nlink = 1
	default:
		out.Mode |= syscall.S_IFREG
		out.Size = n.Size
		out.Blocks = (n.Size + 511) / 512
		out.Nlink = 1
	}
	if n.MTime != 0 {
		t := time.Unix(0, n.MTime)
		out.SetTimes(&t, &t, &t)
	}
	out.Uid, out.Gid = f.uid, f.gid
}

// child makes the inode of node n, found in the tree of the time-travel
// folder at (the current tree if at is "").
func (f *fsys) child(ctx context.Context, parent *fs.Inode, at string, t *volume.Tree, n *volume.Node, out *fuse.EntryOut) *fs.Inode {
	f.attr(n, &out.Attr)
	var ops fs.InodeEmbedder
	switch n.Op {
	case journal.Mkdir:
		ops = &dirNode{fs: f, tree: t, at: at, path: n.Path}
	case journal.Symlink:
		ops = &linkNode{fs: f, node: n}
	default:
		ops = &fileNode{fs: f, node: n, live: at == ""}
	}
	return parent.NewInode(ctx, ops, fs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT, Ino: ino(at, n.Path)})
}

// dirNode is a folder of a tree: the current one, or one of the past.
type dirNode struct {
	fs.Inode
	fs   *fsys
	tree *volume.Tree // a past tree; nil for the current one
	at   string       // the time-travel folder's name; "" for the current tree
	path string
	top  bool // the mount's root, which also holds .dvpc
}

// t is the tree the folder shows.
func (d *dirNode) t() *volume.Tree {
	if d.tree != nil {
		return d.tree
	}
	return d.fs.cur.Load()
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
)

func (d *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n := d.t().Lookup(d.path); n != nil {
		d.fs.attr(n, &out.Attr)
	} else {
		out.Mode = syscall.S_IFDIR | 0o755
	}
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if d.top && name == Control {
		out.Mode = syscall.S_IFDIR | 0o555
		return d.NewInode(ctx, &controlNode{fs: d.fs}, fs.StableAttr{Mode: syscall.S_IFDIR}), 0
	}
	t := d.t()
	n := t.Lookup(path.Join(d.path, name))
	if n == nil {
		return nil, syscall.ENOENT
	}
	return d.fs.child(ctx, d.EmbeddedInode(), d.at, d.tree, n, out), 0
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	kids := d.t().List(d.path)
	list := make([]fuse.DirEntry, 0, len(kids)+1)
	if d.top {
		list = append(list, fuse.DirEntry{Name: Control, Mode: syscall.S_IFDIR})
	}
	for _, n := range kids {
		var a fuse.Attr
		d.fs.attr(n, &a)
		list = append(list, fuse.DirEntry{Name: path.Base(n.Path), Mode: a.Mode & syscall.S_IFMT, Ino: ino(d.at, n.Path)})
	}
	return fs.NewListDirStream(list), 0
}

// controlNode is DIR/.dvpc: it holds "at".
type controlNode struct {
	fs.Inode
	fs *fsys
}

func (c *controlNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if name != "at" {
		return nil, syscall.ENOENT
	}
	out.Mode = syscall.S_IFDIR | 0o555
	return c.NewInode(ctx, &atNode{fs: c.fs}, fs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

func (c *controlNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return fs.NewListDirStream([]fuse.DirEntry{{Name: "at", Mode: syscall.S_IFDIR}}), 0
}

// atNode is DIR/.dvpc/at: every RFC 3339 time names a folder in it, the
// whole tree as of that moment. It lists nothing: there are too many.
type atNode struct {
	fs.Inode
	fs *fsys
}

func (a *atNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, errno := a.fs.treeAt(ctx, name)
	if errno != 0 {
		return nil, errno
	}
	out.Mode = syscall.S_IFDIR | 0o555
	return a.NewInode(ctx, &dirNode{fs: a.fs, tree: t, at: name, path: "/"}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino(name, "/")}), 0
}

func (a *atNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return fs.NewListDirStream(nil), 0
}

// linkNode is a symbolic link.
type linkNode struct {
	fs.Inode
	fs   *fsys
	node *volume.Node
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.node.Target), 0
}

func (l *linkNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.fs.attr(l.node, &out.Attr)
	return 0
}

// fileNode is a file of a tree. A file of the current tree follows it:
// what it holds is looked up again at each Getattr and Open.
type fileNode struct {
	fs.Inode
	fs   *fsys
	live bool

	mu     sync.Mutex
	node   *volume.Node
	cached journal.Version         // the version whose pages the kernel may hold
	open   map[journal.Version]int // handles open, by version
}

// now returns what the file holds now, or nil if it is gone.
func (f *fileNode) now() *volume.Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live {
		n := f.fs.cur.Load().Lookup(f.node.Path)
		if n == nil || n.IsDir() || n.Op == journal.Symlink {
			return nil
		}
		f.node = n
	}
	return f.node
}

var (
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeGetattrer = (*fileNode)(nil)
)

func (f *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		f.fs.attr(h.node, &out.Attr) // an open file keeps its version
		return 0
	}
	n := f.now()
	if n == nil {
		return syscall.ENOENT
	}
	f.fs.attr(n, &out.Attr)
	return 0
}

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	n := f.now()
	if n == nil {
		return nil, 0, syscall.ENOENT
	}
	// The kernel's page cache is one per file, not per handle. It may
	// keep its pages only if they are of this version; when handles of
	// another version are open, this one bypasses the cache, so that each
	// handle reads the version it opened.
	v := n.Version()
	f.mu.Lock()
	others := false
	for ov, c := range f.open {
		others = others || ov != v && c > 0
	}
	var flagsOut uint32
	switch {
	case others:
		flagsOut = fuse.FOPEN_DIRECT_IO
	case f.cached == v:
		flagsOut = fuse.FOPEN_KEEP_CACHE
	default:
		f.cached = v
	}
	if f.open == nil {
		f.open = map[journal.Version]int{}
	}
	f.open[v]++
	f.mu.Unlock()
	return newHandle(f, n), flagsOut, 0
}

// window is the unit a handle fetches: a span of the file, aligned to
// it, opened chunk by chunk.
const window = 4 << 20

// prefetch is how many windows past a sequential reader's position are
// fetched ahead, in parallel: each opens its chunks on its own core.
const prefetch = 2

// span is one window of a file, being fetched or fetched.
type span struct {
	done chan struct{}
	buf  []byte
	err  error
}

// handle is an open file: the windows it fetched or is fetching.
type handle struct {
	fs   *fsys
	file *fileNode
	node *volume.Node // the version it opened

	mu     sync.Mutex
	spans  map[int64]*span // by window number
	last   int64           // the window of the last read, -1 before any
	ctx    context.Context // of the fetches; cancelled at Release
	cancel context.CancelFunc
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
)

func newHandle(f *fileNode, n *volume.Node) *handle {
	ctx, cancel := context.WithCancel(context.Background())
	return &handle{fs: f.fs, file: f, node: n, spans: map[int64]*span{}, last: -1, ctx: ctx, cancel: cancel}
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.cancel()
	f := h.file
	f.mu.Lock()
	defer f.mu.Unlock()
	v := h.node.Version()
	if f.open[v]--; f.open[v] <= 0 {
		delete(f.open, v)
	}
	return 0
}

// fetch returns window k, starting its fetch if it has not started. The
// caller holds h.mu.
func (h *handle) fetch(k int64) *span {
	if sp := h.spans[k]; sp != nil {
		return sp
	}
	size := int64(h.node.Size)
	off := k * window
	sp := &span{done: make(chan struct{}), buf: make([]byte, min(window, size-off))}
	h.spans[k] = sp
	go func() {
		defer close(sp.done)
		want := len(sp.buf)
		n, err := h.fs.vol.ReadAt(h.ctx, h.node, sp.buf, off)
		sp.buf = sp.buf[:n]
		switch {
		case err == io.EOF && n == want:
		case err == nil && n < want, err == io.EOF:
			sp.err = fmt.Errorf("the file's chunks hold %d bytes less than its size", want-n)
		default:
			sp.err = err
		}
	}()
	return sp
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	size := int64(h.node.Size)
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), size)
	n := 0
	for pos := off; pos < end; {
		k := pos / window
		h.mu.Lock()
		sp := h.fetch(k)
		if k == h.last+1 || k == h.last {
			// Sequential: fetch the next windows while this one is read.
			for j := k + 1; j <= k+prefetch && j*window < size; j++ {
				h.fetch(j)
			}
		}
		h.last = k
		for j := range h.spans {
			if j < k-1 || j > k+prefetch {
				delete(h.spans, j) // a bound on memory: behind, or far ahead after a seek
			}
		}
		h.mu.Unlock()
		select {
		case <-sp.done:
		case <-ctx.Done():
			return nil, syscall.EINTR
		}
		if sp.err != nil {
			h.mu.Lock()
			if h.spans[k] == sp {
				delete(h.spans, k) // try again on the next read
			}
			h.mu.Unlock()
			// Never wrong or empty data: an error the program sees, and a
			// line that names the file.
			h.fs.log.Error("dvpc mount: cannot read", "file", h.node.Path, "err", sp.err)
			return nil, syscall.EIO
		}
		lo := pos - k*window
		if lo >= int64(len(sp.buf)) {
			break
		}
		c := copy(dest[n:end-off], sp.buf[lo:])
		n += c
		pos += int64(c)
	}
	return fuse.ReadResultData(dest[:n]), 0
}
