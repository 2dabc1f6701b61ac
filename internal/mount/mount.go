// Package mount shows a volume as a file system, through FUSE (go-fuse).
//
// The mount shows the volume's current tree, brought up to date by
// Refresh (the CLI calls it every few seconds and when a server says
// something changed), and time travel: DIR/.dvpc/at/<RFC 3339 time>/ is
// the whole tree as it was at that moment, for any moment. A file open
// for reading keeps the version it was opened at.
//
// With a stage (Options.Stage) the mount is read-write. Every change is a
// journal entry in the stage, durable on this PC and in the tree at once;
// the stage is committed to the mirrors in the background (Flush). A file
// being written keeps what changed in a spill file sealed under a key held
// only in memory; close() and fsync() commit it to the stage as a new
// version (docs/ARCHITECTURE.md, "The drive").
package mount

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	derrors "github.com/dvpc/dvpc/internal/errors"
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
	// Stage, if set, makes the mount writable: changes go to it. Without
	// it the mount is read-only.
	Stage *volume.Stage
	// Work is a folder on this PC for the sealed spill files of files
	// being written; required with Stage.
	Work string
	// FlushEvery is how often the stage is committed to the mirrors while
	// it holds changes and nothing asked sooner; 1 s if zero. A change
	// asks for a flush at once (after a pause of flushGather that gathers
	// a burst), at most one every flushGap.
	FlushEvery time.Duration
	// ManualFlush leaves the flush to Flush and the period: changes do not
	// ask for one (tests that look at the mirror between).
	ManualFlush bool
}

// flushGather is how long a flush that a change asked for waits for more
// changes; flushGap is the least time between two flushes. A save shows
// on another PC in about flushGather plus a round trip, and a burst of
// changes (tar x) makes a few segments a second, not one per file.
const (
	flushGather = 50 * time.Millisecond
	flushGap    = 250 * time.Millisecond
)

// flushChunksAt is the size of stage past which chunks are flushed with
// no change waiting.
const flushChunksAt = 1 << 30

// A file written front to back that has streamingAt bytes written puts
// off the flushes that changes ask for, for up to flushDefer: its own
// creation is such a change, and the flush would seal and compress the
// chunks it stored so far on the cores the writer is using. Its close
// brings a change of its own, and the flush.
const (
	streamingAt = 8 << 20
	flushDefer  = 10 * time.Second
)

// Control is the name of the folder at the root that holds time travel.
const Control = ".dvpc"

// Mounted is a running mount.
type Mounted struct {
	*fuse.Server
	fs *fsys

	stop    chan struct{}
	flushed chan struct{}
}

// Refresh reads what is new on the mirrors and shows it: new and changed
// files appear, removed ones go. Files open keep the version they opened.
func (m *Mounted) Refresh(ctx context.Context) error {
	if err := m.fs.vol.Sync(ctx); err != nil {
		return err
	}
	m.fs.tmu.Lock()
	m.fs.cur = m.fs.vol.Tree()
	m.fs.tmu.Unlock()
	return nil
}

// WithTree calls fn with the current tree, which does not change during
// the call.
func (m *Mounted) WithTree(fn func(*volume.Tree)) {
	m.fs.tmu.RLock()
	defer m.fs.tmu.RUnlock()
	fn(m.fs.cur)
}

// Flush commits the stage to the mirrors now.
func (m *Mounted) Flush(ctx context.Context) error {
	if m.fs.stage == nil {
		return nil
	}
	return m.fs.stage.Flush(ctx)
}

// Close ends a mount that was unmounted: it stops the background flush
// and commits what the stage holds, as far as the mirrors take it (what
// they do not stays in the stage for the next mount).
func (m *Mounted) Close(ctx context.Context) error {
	if m.stop == nil {
		return nil
	}
	close(m.stop)
	<-m.flushed
	m.stop = nil
	return m.Flush(ctx)
}

// Mount mounts v at dir; Unmount it (or unmount dir) to end, then Close.
// As root it mounts with mount(2) directly, else through fusermount.
func Mount(dir string, v *volume.Volume, o Options) (*Mounted, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Stage != nil && o.Work == "" {
		return nil, fmt.Errorf("mount: a writable mount needs a work folder")
	}
	if o.FlushEvery == 0 {
		o.FlushEvery = time.Second
	}
	f := &fsys{vol: v, log: o.Log, uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), at: map[string]*volume.Tree{},
		stage: o.Stage, work: o.Work, now: time.Now, dirty: map[string]*dirty{}, inos: map[string]uint64{},
		sealers: make(chan struct{}, runtime.GOMAXPROCS(0)), kick: make(chan struct{}, 1)}
	f.cur = v.Tree()
	root := &dirNode{fs: f, path: "/", top: true}
	f.root = root.EmbeddedInode()
	sec := time.Second
	opts := &fs.Options{
		EntryTimeout: &sec,
		AttrTimeout:  &sec,
		MountOptions: fuse.MountOptions{
			FsName:            "dvpc",
			Name:              "dvpc",
			DirectMountStrict: os.Getuid() == 0,
			MaxReadAhead:      1 << 20,
			MaxWrite:          1 << 20,
			// Reads answer from memory, never from a file descriptor:
			// go-fuse would try splice(2) first for each of them, and
			// fail (and log) for any over the pipe size.
			DisableSplice: true,
			Debug:         o.Debug,
		},
		UID: f.uid,
		GID: f.gid,
	}
	srv, err := fs.Mount(dir, root, opts)
	if err != nil {
		return nil, err
	}
	readAhead(dir, o.Log)
	f.ready.Store(true)
	m := &Mounted{Server: srv, fs: f}
	if f.stage != nil {
		m.stop, m.flushed = make(chan struct{}), make(chan struct{})
		go m.flushLoop(o.FlushEvery, o.ManualFlush)
	}
	return m, nil
}

// readAheadKB is the kernel's read-ahead for the mount. Its default for a
// FUSE mount, 128 KiB, makes a sequential read a stream of 128 KiB
// requests; 1 MiB ones (the most a request holds, MaxWrite) read the 500 MB
// bench file about a tenth faster. More was slower.
const readAheadKB = 1024

// readAhead sets the read-ahead of the mount at dir, where this process
// may (as root); elsewhere the kernel's default stays.
func readAhead(dir string, log *slog.Logger) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return
	}
	dev := uint64(st.Dev) // an int32 on macOS
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(dev), unix.Minor(dev))
	if err := os.WriteFile(p, []byte(fmt.Sprint(readAheadKB)), 0); err != nil && os.Getuid() == 0 {
		log.Debug("dvpc mount: read-ahead stays at the kernel's default", "err", err)
	}
}

// flushLoop commits the stage to the mirrors when a change asks for it,
// and every period while it holds changes. With manual set, only the
// period does (tests flush by hand).
func (m *Mounted) flushLoop(every time.Duration, manual bool) {
	defer close(m.flushed)
	t := time.NewTicker(every)
	defer t.Stop()
	kick := m.fs.kick
	if manual {
		kick = nil
	}
	var last string
	var lastFlush time.Time
	var deferred time.Time // when a flush was first put off for a writer
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		case <-kick:
			wait := max(flushGather, flushGap-time.Since(lastFlush))
			select {
			case <-m.stop:
				return
			case <-time.After(wait):
			}
		}
		// Chunks alone (a large file being written) wait for their file's
		// close, which brings a change, unless they pile up: a flush in
		// the middle of a long write only takes cores from it. So do the
		// changes made meanwhile (the file's creation), for a while.
		small := m.fs.stage.Size() < flushChunksAt
		if m.fs.stage.Pending() == 0 && small {
			deferred = time.Time{}
			// The local state, if its writing was put off (SetSaveEvery).
			if err := m.fs.vol.SaveStateDue(); err != nil {
				m.fs.log.Warn("dvpc mount: cannot write the local state", "err", err)
			}
			continue
		}
		if small && m.fs.streaming() && (deferred.IsZero() || time.Since(deferred) < flushDefer) {
			if deferred.IsZero() {
				deferred = time.Now()
			}
			continue
		}
		deferred = time.Time{}
		lastFlush = time.Now()
		err := m.Flush(context.Background())
		switch {
		case err != nil && err.Error() != last:
			m.fs.log.Warn("dvpc mount: changes stay on this PC until the mirrors take them", "err", err)
			last = err.Error()
		case err == nil && last != "":
			m.fs.log.Info("dvpc mount: the changes kept on this PC are on the mirrors now")
			last = ""
		}
	}
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
	// ready is set once the mount is up, go-fuse's poll probe done: until
	// then DIR/.dvpc is not there, so that a program (a test in this very
	// process, whose open of a file would send the kernel's POLL before
	// the probe taught it that the mount has none) can wait for it.
	ready    atomic.Bool
	lookups  atomic.Int64 // of a name in a folder, for tests
	vol      *volume.Volume
	log      *slog.Logger
	uid, gid uint32
	stage    *volume.Stage // nil: read-only
	work     string
	now      func() time.Time
	root     *fs.Inode
	sealers  chan struct{} // bounds the chunks being sealed at once
	kick     chan struct{} // a change asks for a flush

	// tmu guards cur, the current tree: the stage changes it in place.
	tmu sync.RWMutex
	cur *volume.Tree

	mu sync.Mutex
	at map[string]*volume.Tree // trees of time travel, by the folder's name

	// dmu guards the files being written, by path, and their paths and
	// the versions they replace; and the inode numbers of moved paths.
	dmu   sync.Mutex
	dirty map[string]*dirty
	inos  map[string]uint64 // paths whose inode number is not ino("", path)
	fresh uint64            // the last inode number handed out for a moved-from path
}

// lookup returns the live node at p in the current tree, or nil.
func (f *fsys) lookup(p string) *volume.Node {
	f.tmu.RLock()
	defer f.tmu.RUnlock()
	return f.cur.Lookup(p)
}

// list returns the live children of folder p in the current tree.
func (f *fsys) list(p string) []*volume.Node {
	f.tmu.RLock()
	defer f.tmu.RUnlock()
	return f.cur.List(p)
}

// add puts changes in the stage and shows them; f.tmu is held for writing.
func (f *fsys) add(entries ...journal.Entry) ([]journal.Entry, error) {
	es, err := f.stage.Add(entries...)
	f.cur = f.vol.Tree()
	select {
	case f.kick <- struct{}{}:
	default:
	}
	return es, err
}

// liveIno is the inode number of path p of the current tree.
func (f *fsys) liveIno(p string) uint64 {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	if n, ok := f.inos[p]; ok {
		return n
	}
	return ino("", p)
}

// pathOf returns where a node of the current tree is now.
func (f *fsys) pathOf(n *fs.Inode) string {
	return "/" + n.Path(f.root)
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
	// Programs size their buffers by it (cp, rsync): 1 MiB requests cost
	// an eighth of the 128 KiB ones per byte.
	out.Blksize = 1 << 20
}

// dirtyAt returns the file being written at p, or nil.
func (f *fsys) dirtyAt(p string) *dirty {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	return f.dirty[p]
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
		ops = &linkNode{fs: f, node: n, live: at == ""}
	default:
		ops = &fileNode{fs: f, node: n, live: at == ""}
	}
	id := ino(at, n.Path)
	if at == "" {
		id = f.liveIno(n.Path)
		if d := f.dirtyAt(n.Path); d != nil && n.Op == journal.Put {
			d.fill(&out.Attr)
		}
	}
	out.Ino = id
	return parent.NewInode(ctx, ops, fs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT, Ino: id})
}

// noXattrs is embedded in every node: extended attributes are not kept
// (docs/ARCHITECTURE.md). Reading one is ENOSYS, which the kernel
// remembers for the whole mount and answers itself from then on
// (EOPNOTSUPP); else it asks for a file's security.capability before
// every write, a round trip of its own on the writer's path: 500 of them
// for a 500 MB dd. Setting one is ENOTSUP, which programs that copy them
// (cp -a, rsync -X, tar --xattrs) take as "this file system has none" and
// go on; go-fuse's default, ENODATA, made cp -a fail on every file.
// Listing finds none (go-fuse's default), so that they do not even ask.
type noXattrs struct{}

func (noXattrs) Getxattr(context.Context, string, []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (noXattrs) Setxattr(context.Context, string, []byte, uint32) syscall.Errno {
	return syscall.ENOTSUP
}

var (
	_ fs.NodeGetxattrer = (*fileNode)(nil)
	_ fs.NodeSetxattrer = (*fileNode)(nil)
)

// dirNode is a folder of a tree: the current one, or one of the past.
type dirNode struct {
	fs.Inode
	noXattrs
	fs   *fsys
	tree *volume.Tree // a past tree; nil for the current one
	at   string       // the time-travel folder's name; "" for the current tree
	path string       // for a past tree; a folder of the current one asks where it is now
	top  bool         // the mount's root, which also holds .dvpc
}

// where returns the folder's path in its tree.
func (d *dirNode) where() string {
	if d.tree != nil || d.top {
		return d.path
	}
	return d.fs.pathOf(d.EmbeddedInode())
}

func (d *dirNode) lookup(p string) *volume.Node {
	if d.tree != nil {
		return d.tree.Lookup(p)
	}
	return d.fs.lookup(p)
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
	_ fs.NodeRmdirer   = (*dirNode)(nil)
	_ fs.NodeRenamer   = (*dirNode)(nil)
	_ fs.NodeSymlinker = (*dirNode)(nil)
	_ fs.NodeSetattrer = (*dirNode)(nil)
	_ fs.NodeStatfser  = (*dirNode)(nil)
)

func (d *dirNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if n := d.lookup(d.where()); n != nil {
		d.fs.attr(n, &out.Attr)
	} else {
		out.Mode = syscall.S_IFDIR | 0o755
	}
	if d.tree != nil || d.fs.stage == nil {
		out.Mode &^= 0o222
	}
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if d.top && name == Control {
		if !d.fs.ready.Load() {
			return nil, syscall.ENOENT
		}
		out.Mode = syscall.S_IFDIR | 0o555
		return d.NewInode(ctx, &controlNode{fs: d.fs}, fs.StableAttr{Mode: syscall.S_IFDIR}), 0
	}
	d.fs.lookups.Add(1)
	n := d.lookup(path.Join(d.where(), name))
	if n == nil {
		return nil, syscall.ENOENT
	}
	return d.fs.child(ctx, d.EmbeddedInode(), d.at, d.tree, n, out), 0
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	var kids []*volume.Node
	p := d.where()
	if d.tree != nil {
		kids = d.tree.List(p)
	} else {
		kids = d.fs.list(p)
	}
	// The root's .dvpc is not listed, as ZFS hides .zfs: programs that
	// walk the drive (find, rsync, backup tools) would walk all history.
	list := make([]fuse.DirEntry, 0, len(kids))
	for _, n := range kids {
		var a fuse.Attr
		d.fs.attr(n, &a)
		id := ino(d.at, n.Path)
		if d.tree == nil {
			id = d.fs.liveIno(n.Path)
		}
		list = append(list, fuse.DirEntry{Name: path.Base(n.Path), Mode: a.Mode & syscall.S_IFMT, Ino: id})
	}
	return fs.NewListDirStream(list), 0
}

// OpendirHandle opens the folder for listing (see dirHandle).
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d}, 0, 0
}

// dirHandle lists a folder. The kernel lists with READDIRPLUS, asking for
// each entry's attributes with its name, which spares a program that
// stats every entry (ls -l, du, a file manager) a lookup of each; but an
// entry the kernel knows already (git status stats every file, then
// lists every folder for the files it does not track) would cost a
// lookup here and another in the kernel for nothing. Such entries go
// without attributes, which the kernel takes as "keep what you have".
type dirHandle struct {
	d  *dirNode
	ds fs.DirStream
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileLookuper     = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
)

func (h *dirHandle) stream(ctx context.Context) syscall.Errno {
	if h.ds != nil {
		return 0
	}
	ds, errno := h.d.Readdir(ctx)
	h.ds = ds
	return errno
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if errno := h.stream(ctx); errno != 0 {
		return nil, errno
	}
	if !h.ds.HasNext() {
		return nil, 0
	}
	e, errno := h.ds.Next()
	return &e, errno
}

// Lookup answers READDIRPLUS for the entry just listed: its attributes,
// unless the kernel has the entry already (any errno sends it without).
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if h.d.GetChild(name) != nil {
		return nil, syscall.EEXIST
	}
	return h.d.Lookup(ctx, name, out)
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if errno := h.stream(ctx); errno != 0 {
		return errno
	}
	if sd, ok := h.ds.(fs.FileSeekdirer); ok {
		return sd.Seekdir(ctx, off)
	}
	return syscall.ENOTSUP
}

func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	if h.ds != nil {
		h.ds.Close()
	}
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	dir := d.fs.work
	if dir == "" {
		dir = os.TempDir()
	}
	if err := syscall.Statfs(dir, &st); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	out.NameLen = 255
	return 0
}

// writable says whether changes can be made in this folder: in the
// current tree of a writable mount.
func (d *dirNode) writable() syscall.Errno {
	if d.tree != nil || d.fs.stage == nil {
		return syscall.EROFS
	}
	return 0
}

// childPath checks a name to add to this folder and returns its path.
func (d *dirNode) childPath(name string) (string, syscall.Errno) {
	if errno := d.writable(); errno != 0 {
		return "", errno
	}
	if d.top && name == Control {
		return "", syscall.EPERM
	}
	if len(name) > 255 {
		return "", syscall.ENAMETOOLONG
	}
	p, err := journal.CleanPath(path.Join(d.where(), name))
	if err != nil || path.Base(p) != name {
		return "", syscall.EINVAL
	}
	return p, 0
}

// fail logs a change that could not be made and returns the errno a
// program sees.
func (f *fsys) fail(what, p string, err error) syscall.Errno {
	f.log.Error("dvpc mount: cannot "+what, "file", p, "err", err)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno // ENOSPC, EDQUOT, EROFS of this PC's disk
	}
	if os.IsNotExist(err) {
		return syscall.ENOENT
	}
	if derrors.Is(err, derrors.Invalid) {
		return syscall.EINVAL // a path that would grow past the bound
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fs.ToErrno(pe.Err)
	}
	return syscall.EIO
}

func headVersion(t *volume.Tree, p string) journal.Version {
	if n := t.Head(p); n != nil {
		return n.Version()
	}
	return journal.Version{}
}

func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p, errno := d.childPath(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	f := d.fs
	f.tmu.Lock()
	if f.cur.Lookup(p) != nil {
		f.tmu.Unlock()
		return nil, nil, 0, syscall.EEXIST
	}
	es, err := f.add(journal.Entry{Op: journal.Put, Path: p, Base: headVersion(f.cur, p), Mode: mode & 0o7777, MTime: f.now().UnixNano()})
	var n *volume.Node
	if err == nil {
		n = f.cur.Lookup(p)
	}
	f.tmu.Unlock()
	if err != nil {
		return nil, nil, 0, f.fail("create", p, err)
	}
	if n == nil || n.Time != es[0].Time {
		return nil, nil, 0, syscall.EIO // cannot be: the tree applies this device's newest change
	}
	fn := &fileNode{fs: f, node: n, live: true}
	dt := f.openDirty(p, n)
	f.attr(n, &out.Attr)
	id := f.liveIno(p)
	out.Ino = id
	in := d.NewInode(ctx, fn, fs.StableAttr{Mode: syscall.S_IFREG, Ino: id})
	return in, newWriteHandle(fn, dt, flags), 0, 0
}

// openDirty returns the file being written at p, starting one from n if
// there is none, and counts a handle that writes to it.
func (f *fsys) openDirty(p string, n *volume.Node) *dirty {
	f.dmu.Lock()
	defer f.dmu.Unlock()
	d := f.dirty[p]
	if d == nil {
		d = newDirty(f, p, n, n.Version())
		f.dirty[p] = d
	}
	d.opens++
	return d
}

// streaming reports whether a file is being written front to back and
// has streamingAt bytes written or more (the cutter may not have cut
// them all yet).
func (f *fsys) streaming() bool {
	f.dmu.Lock()
	ds := make([]*dirty, 0, len(f.dirty))
	for _, d := range f.dirty {
		ds = append(ds, d)
	}
	f.dmu.Unlock()
	for _, d := range ds { // d.mu is taken before f.dmu elsewhere
		d.mu.Lock()
		on := d.stream && d.size >= streamingAt
		d.mu.Unlock()
		if on {
			return true
		}
	}
	return false
}

// releaseDirty counts a writing handle closed, and drops the file being
// written when it was the last.
func (f *fsys) releaseDirty(d *dirty) {
	f.dmu.Lock()
	d.opens--
	last := d.opens == 0
	if last && f.dirty[d.path] == d {
		delete(f.dirty, d.path)
	}
	f.dmu.Unlock()
	if last {
		d.close()
	}
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, errno := d.childPath(name)
	if errno != 0 {
		return nil, errno
	}
	f := d.fs
	f.tmu.Lock()
	if f.cur.Lookup(p) != nil {
		f.tmu.Unlock()
		return nil, syscall.EEXIST
	}
	_, err := f.add(journal.Entry{Op: journal.Mkdir, Path: p, Base: headVersion(f.cur, p), Mode: mode & 0o7777, MTime: f.now().UnixNano()})
	n := f.cur.Lookup(p)
	f.tmu.Unlock()
	if err != nil {
		return nil, f.fail("make the folder", p, err)
	}
	return f.child(ctx, d.EmbeddedInode(), "", nil, n, out), 0
}

func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p, errno := d.childPath(name)
	if errno != 0 {
		return nil, errno
	}
	f := d.fs
	f.tmu.Lock()
	if f.cur.Lookup(p) != nil {
		f.tmu.Unlock()
		return nil, syscall.EEXIST
	}
	_, err := f.add(journal.Entry{Op: journal.Symlink, Path: p, Base: headVersion(f.cur, p), Mode: 0o777, MTime: f.now().UnixNano(), Target: target})
	n := f.cur.Lookup(p)
	f.tmu.Unlock()
	if err != nil {
		return nil, f.fail("make the link", p, err)
	}
	return f.child(ctx, d.EmbeddedInode(), "", nil, n, out), 0
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.remove(name, false)
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.remove(name, true)
}

func (d *dirNode) remove(name string, dir bool) syscall.Errno {
	p, errno := d.childPath(name)
	if errno != 0 {
		return errno
	}
	f := d.fs
	f.tmu.Lock()
	defer f.tmu.Unlock()
	n := f.cur.Lookup(p)
	switch {
	case n == nil:
		return syscall.ENOENT
	case dir && !n.IsDir():
		return syscall.ENOTDIR
	case !dir && n.IsDir():
		return syscall.EISDIR
	case dir && len(f.cur.List(p)) > 0:
		return syscall.ENOTEMPTY
	}
	if _, err := f.add(journal.Entry{Op: journal.Delete, Path: p, Base: headVersion(f.cur, p)}); err != nil {
		return f.fail("remove", p, err)
	}
	unlinked(d.GetChild(name))
	f.dmu.Lock()
	if dt := f.dirty[p]; dt != nil {
		dt.gone = true // still open: written, but never committed
		delete(f.dirty, p)
	}
	f.forgetIno(p)
	f.dmu.Unlock()
	return 0
}

// unlinked notes that the file of inode n lost its name: handles open on
// it show no links.
func unlinked(n *fs.Inode) {
	if n == nil {
		return
	}
	if fn, ok := n.Operations().(*fileNode); ok {
		fn.gone.Store(true)
	}
}

// forgetIno gives path p, whose file is gone, a new inode number for
// whatever comes there next; f.dmu is held.
func (f *fsys) forgetIno(p string) {
	if _, ok := f.inos[p]; ok {
		f.fresh++
		f.inos[p] = 1<<63 | f.fresh
	}
}

func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	src, errno := d.childPath(name)
	if errno != 0 {
		return errno
	}
	to, ok := newParent.(*dirNode)
	if !ok {
		return syscall.EXDEV
	}
	dst, errno := to.childPath(newName)
	if errno != 0 {
		return errno
	}
	if flags&^uint32(1) != 0 { // only RENAME_NOREPLACE
		return syscall.EINVAL
	}
	f := d.fs
	f.tmu.Lock()
	defer f.tmu.Unlock()
	t := f.cur
	n := t.Lookup(src)
	if n == nil {
		return syscall.ENOENT
	}
	if src == dst {
		return 0
	}
	if n.IsDir() && len(dst) > len(src) && dst[:len(src)+1] == src+"/" {
		return syscall.EINVAL
	}
	var drop []*volume.Node // what dst held, replaced
	if old := t.Lookup(dst); old != nil {
		switch {
		case flags&1 != 0:
			return syscall.EEXIST
		case n.IsDir() && !old.IsDir():
			return syscall.ENOTDIR
		case !n.IsDir() && old.IsDir():
			return syscall.EISDIR
		case old.IsDir() && len(t.List(dst)) > 0:
			return syscall.ENOTEMPTY
		}
		drop = append(drop, old)
	}
	var all []*volume.Node
	t.Walk(src, func(n *volume.Node) error { all = append(all, n); return nil })
	entries := make([]journal.Entry, 0, 2*len(all))
	for _, n := range all {
		to := dst + n.Path[len(src):]
		e := *n.Entry
		e.Path, e.Base = to, headVersion(t, to)
		entries = append(entries, e)
	}
	for i := len(all) - 1; i >= 0; i-- {
		entries = append(entries, journal.Entry{Op: journal.Delete, Path: all[i].Path, Base: headVersion(t, all[i].Path)})
	}
	es, err := f.add(entries...)
	if err != nil {
		return f.fail("rename", src, err)
	}
	if len(drop) > 0 {
		unlinked(to.GetChild(newName))
	}
	// Files being written and inode numbers move along.
	f.dmu.Lock()
	defer f.dmu.Unlock()
	for _, o := range drop {
		if dt := f.dirty[o.Path]; dt != nil {
			dt.gone = true
			delete(f.dirty, o.Path)
		}
	}
	for i, n := range all {
		to := dst + n.Path[len(src):]
		if dt := f.dirty[n.Path]; dt != nil {
			delete(f.dirty, n.Path)
			dt.path, dt.baseVer = to, journal.Version{Device: f.vol.Me().ID, Time: es[i].Time}
			f.dirty[to] = dt
		}
	}
	moved := make(map[string]uint64, len(all))
	for _, n := range all {
		id, ok := f.inos[n.Path]
		if !ok {
			id = ino("", n.Path)
		}
		moved[dst+n.Path[len(src):]] = id
		f.fresh++
		f.inos[n.Path] = 1<<63 | f.fresh
	}
	for p, id := range moved {
		f.inos[p] = id
	}
	return 0
}

// Setattr on a folder changes its mode or time.
func (d *dirNode) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	mode, hasMode := in.GetMode()
	mtime, hasMtime := in.GetMTime()
	if !hasMode && !hasMtime {
		return d.Getattr(ctx, nil, out)
	}
	if errno := d.writable(); errno != 0 {
		return errno
	}
	p := d.where()
	if p == "/" {
		return 0
	}
	f := d.fs
	f.tmu.Lock()
	n := f.cur.Lookup(p)
	if n == nil {
		f.tmu.Unlock()
		return syscall.ENOENT
	}
	e := *n.Entry
	e.Path, e.Base = p, headVersion(f.cur, p)
	if hasMode {
		e.Mode = mode & 0o7777
	}
	if hasMtime {
		e.MTime = mtime.UnixNano()
	}
	_, err := f.add(e)
	f.tmu.Unlock()
	if err != nil {
		return f.fail("change", p, err)
	}
	return d.Getattr(ctx, nil, out)
}

// controlNode is DIR/.dvpc: it holds "at" and "versions".
type controlNode struct {
	fs.Inode
	noXattrs
	fs *fsys
}

func (c *controlNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	out.Mode = syscall.S_IFDIR | 0o555
	switch name {
	case "at":
		return c.NewInode(ctx, &atNode{fs: c.fs}, fs.StableAttr{Mode: syscall.S_IFDIR}), 0
	case "versions":
		return c.NewInode(ctx, &versionsDir{fs: c.fs, path: "/"}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("versions", "/")}), 0
	}
	return nil, syscall.ENOENT
}

func (c *controlNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	return fs.NewListDirStream([]fuse.DirEntry{{Name: "at", Mode: syscall.S_IFDIR}, {Name: "versions", Mode: syscall.S_IFDIR}}), 0
}

// versionsDir is a folder under DIR/.dvpc/versions: the folders of the
// current tree, in which every file is a folder of its versions.
type versionsDir struct {
	fs.Inode
	noXattrs
	fs   *fsys
	path string
}

func (d *versionsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := path.Join(d.path, name)
	n := d.fs.lookup(p)
	out.Mode = syscall.S_IFDIR | 0o555
	switch {
	case n == nil || n.Op == journal.Symlink:
		return nil, syscall.ENOENT
	case n.IsDir():
		return d.NewInode(ctx, &versionsDir{fs: d.fs, path: p}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("versions", p)}), 0
	}
	return d.NewInode(ctx, &versionList{fs: d.fs, path: p}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("versions", p)}), 0
}

func (d *versionsDir) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	var list []fuse.DirEntry
	for _, n := range d.fs.list(d.path) {
		if n.Op != journal.Symlink {
			list = append(list, fuse.DirEntry{Name: path.Base(n.Path), Mode: syscall.S_IFDIR, Ino: ino("versions", n.Path)})
		}
	}
	return fs.NewListDirStream(list), 0
}

// versionList is DIR/.dvpc/versions/PATH for a file: each version of it
// this PC knows is a read-only file, named by its time and device, with
// the file's extension.
type versionList struct {
	fs.Inode
	noXattrs
	fs   *fsys
	path string
}

// versions returns the versions with content, by name.
func (l *versionList) versions() ([]string, map[string]*volume.Node) {
	l.fs.tmu.RLock()
	hist := append([]volume.Change(nil), l.fs.cur.History(l.path)...)
	l.fs.tmu.RUnlock()
	ext := path.Ext(l.path)
	if len(ext) > 16 || ext == path.Base(l.path) {
		ext = ""
	}
	var names []string
	byName := map[string]*volume.Node{}
	for _, c := range hist {
		if c.Op != journal.Put {
			continue
		}
		when := c.Time.Time().UTC().Format("2006-01-02T15:04:05.000Z")
		if n := c.Time & 0xffff; n > 0 {
			when += fmt.Sprintf("~%d", n) // the clock's counter: more than one change that millisecond
		}
		name := when + " " + safeName(l.fs.vol.DeviceName(c.Device)) + ext
		if _, dup := byName[name]; dup {
			continue
		}
		names = append(names, name)
		byName[name] = &volume.Node{Path: l.path, Change: c}
	}
	return names, byName
}

// safeName makes a device name fit in a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r < ' ' {
			return '_'
		}
		return r
	}, s)
}

func (l *versionList) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	_, byName := l.versions()
	n := byName[name]
	if n == nil {
		return nil, syscall.ENOENT
	}
	l.fs.attr(n, &out.Attr)
	out.Mode &^= 0o222
	return l.NewInode(ctx, &fileNode{fs: l.fs, node: n}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("versions", l.path+"\x00"+name)}), 0
}

func (l *versionList) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	names, _ := l.versions()
	list := make([]fuse.DirEntry, len(names))
	for i, n := range names {
		list[i] = fuse.DirEntry{Name: n, Mode: syscall.S_IFREG, Ino: ino("versions", l.path+"\x00"+n)}
	}
	return fs.NewListDirStream(list), 0
}

// atNode is DIR/.dvpc/at: every RFC 3339 time names a folder in it, the
// whole tree as of that moment. It lists nothing: there are too many.
type atNode struct {
	fs.Inode
	noXattrs
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
	noXattrs
	fs   *fsys
	node *volume.Node
	live bool
}

func (l *linkNode) now() *volume.Node {
	if !l.live {
		return l.node
	}
	n := l.fs.lookup(l.fs.pathOf(l.EmbeddedInode()))
	if n == nil || n.Op != journal.Symlink {
		return l.node
	}
	return n
}

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.now().Target), 0
}

func (l *linkNode) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.fs.attr(l.now(), &out.Attr)
	return 0
}

// Setattr sets a link's time (its mode is always 0777).
func (l *linkNode) Setattr(ctx context.Context, _ fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	mtime, ok := in.GetMTime()
	if !ok {
		return l.Getattr(ctx, nil, out)
	}
	f := l.fs
	if !l.live || f.stage == nil {
		return syscall.EROFS
	}
	p := f.pathOf(l.EmbeddedInode())
	f.tmu.Lock()
	n := f.cur.Lookup(p)
	if n == nil || n.Op != journal.Symlink {
		f.tmu.Unlock()
		return syscall.ENOENT
	}
	e := *n.Entry
	e.Path, e.Base, e.MTime = p, n.Version(), mtime.UnixNano()
	_, err := f.add(e)
	f.tmu.Unlock()
	if err != nil {
		return f.fail("change", p, err)
	}
	return l.Getattr(ctx, nil, out)
}

// fileNode is a file of a tree. A file of the current tree follows it:
// what it holds is looked up again at each Getattr and Open.
type fileNode struct {
	fs.Inode
	noXattrs
	fs   *fsys
	live bool
	gone atomic.Bool // unlinked, or replaced by a rename

	mu     sync.Mutex
	node   *volume.Node
	cached journal.Version         // the version whose pages the kernel may hold
	open   map[journal.Version]int // handles open for reading, by version
}

// where returns where the file is now.
func (f *fileNode) where() string {
	if !f.live {
		return f.node.Path
	}
	return f.fs.pathOf(f.EmbeddedInode())
}

// now returns what the file holds now, or nil if it is gone.
func (f *fileNode) now() *volume.Node {
	if !f.live {
		return f.node
	}
	n := f.fs.lookup(f.where())
	f.mu.Lock()
	defer f.mu.Unlock()
	if n == nil || n.IsDir() || n.Op == journal.Symlink {
		return nil
	}
	f.node = n
	return n
}

var (
	_ fs.NodeOpener    = (*fileNode)(nil)
	_ fs.NodeGetattrer = (*fileNode)(nil)
	_ fs.NodeSetattrer = (*fileNode)(nil)
)

func (f *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*handle); ok {
		f.fs.attr(h.node, &out.Attr) // an open file keeps its version
		if h.d != nil {
			h.d.fill(&out.Attr)
		}
		if f.gone.Load() {
			out.Nlink = 0
		}
		return 0
	}
	n := f.now()
	if n == nil {
		return syscall.ENOENT
	}
	f.fs.attr(n, &out.Attr)
	if f.live {
		if d := f.fs.dirtyAt(n.Path); d != nil {
			d.fill(&out.Attr)
		}
	}
	return 0
}

func (f *fileNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	size, hasSize := in.GetSize()
	mode, hasMode := in.GetMode()
	mtime, hasMtime := in.GetMTime()
	if !hasSize && !hasMode && !hasMtime {
		return f.Getattr(ctx, fh, out) // owners and access times are not kept
	}
	if !f.live || f.fs.stage == nil {
		return syscall.EROFS
	}
	var d *dirty
	if h, ok := fh.(*handle); ok && h.d != nil {
		d = h.d
	}
	n := f.now()
	if n == nil {
		return syscall.ENOENT
	}
	temp := false
	if d == nil {
		d = f.fs.dirtyAt(n.Path)
	}
	if d == nil {
		// Not being written: a change of its own, committed at once.
		d = f.fs.openDirty(n.Path, n)
		temp = true
	}
	err := d.setattr(ctx, hasSize, int64(size), hasMode, mode, hasMtime, mtime)
	if err == nil && temp {
		err = d.commit(ctx)
	}
	if temp {
		f.fs.releaseDirty(d)
	}
	if err != nil {
		return f.fs.fail("change", n.Path, err)
	}
	return f.Getattr(ctx, fh, out)
}

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	write := flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0
	if write && (!f.live || f.fs.stage == nil) {
		return nil, 0, syscall.EROFS
	}
	n := f.now()
	if n == nil {
		return nil, 0, syscall.ENOENT
	}
	if write {
		d := f.fs.openDirty(n.Path, n)
		if flags&syscall.O_TRUNC != 0 {
			if err := d.Truncate(ctx, 0); err != nil {
				f.fs.releaseDirty(d)
				return nil, 0, f.fs.fail("truncate", n.Path, err)
			}
		}
		return newWriteHandle(f, d, flags), 0, 0
	}
	if f.live {
		if d := f.fs.dirtyAt(n.Path); d != nil {
			// Being written here: read what is written.
			return &handle{fs: f.fs, file: f, node: n, d: d, reader: true}, 0, 0
		}
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

// window is about the unit a handle fetches: a run of whole chunks of at
// most this many bytes (or one larger chunk), which open straight into
// the window's buffer (volume.ReadAt).
const window = 4 << 20

// prefetch is how many windows past a sequential reader's position are
// fetched ahead, in parallel: each opens its chunks on its own core.
const prefetch = 2

// windowStarts returns where the windows of a file of these chunks start.
func windowStarts(chunks []journal.ChunkRef) []int64 {
	starts := []int64{0}
	var off, run int64
	for _, c := range chunks {
		if run > 0 && run+int64(c.Size) > window {
			starts = append(starts, off)
			run = 0
		}
		off += int64(c.Size)
		run += int64(c.Size)
	}
	return starts
}

// windowBufs holds window buffers for reuse: a fresh 4 MiB buffer costs
// a thousand page faults on first touch, which took a tenth of a first
// read's time.
var windowBufs = sync.Pool{New: func() any { b := make([]byte, window); return &b }}

// span is one window of a file, being fetched or fetched.
type span struct {
	done chan struct{}
	buf  []byte
	err  error
	// refs counts the holders of buf: the handle's map, the fetch until
	// it ends, and each reply being sent from it. The last one returns
	// buf to windowBufs.
	refs atomic.Int32
	pool *[]byte // buf's storage, when it came from windowBufs
}

func (sp *span) unref() {
	if sp.refs.Add(-1) == 0 && sp.pool != nil {
		windowBufs.Put(sp.pool)
	}
}

// spanReply sends part of a span's buffer to the kernel without a copy
// (writev from it; the Slices method makes go-fuse do so) and lets go of
// the buffer once it is sent (Done).
type spanReply struct {
	sp *span
	b  [][]byte
}

func (r *spanReply) Bytes([]byte) ([]byte, fuse.Status) { return r.b[0], fuse.OK }
func (r *spanReply) Slices() ([][]byte, fuse.Status)    { return r.b, fuse.OK }
func (r *spanReply) Size() int                          { return len(r.b[0]) }
func (r *spanReply) Done()                              { r.sp.unref() }

// handle is an open file. One that reads a version keeps the windows it
// fetched or is fetching; one of a file being written (d) reads and
// writes it.
type handle struct {
	fs   *fsys
	file *fileNode
	node *volume.Node // the version it opened

	d      *dirty // the file being written, for a handle that writes or reads it
	reader bool   // reads d, but does not write
	append bool   // O_APPEND

	mu     sync.Mutex
	starts []int64         // where each window starts; set at the first read
	spans  map[int64]*span // by window number
	last   int64           // the window of the last read, -1 before any
	ctx    context.Context // of the fetches; cancelled at Release
	cancel context.CancelFunc
}

var (
	_ fs.FileReader   = (*handle)(nil)
	_ fs.FileReleaser = (*handle)(nil)
	_ fs.FileWriter   = (*handle)(nil)
	_ fs.FileFlusher  = (*handle)(nil)
	_ fs.FileFsyncer  = (*handle)(nil)
)

func newHandle(f *fileNode, n *volume.Node) *handle {
	ctx, cancel := context.WithCancel(context.Background())
	return &handle{fs: f.fs, file: f, node: n, spans: map[int64]*span{}, last: -1, ctx: ctx, cancel: cancel}
}

func newWriteHandle(f *fileNode, d *dirty, flags uint32) *handle {
	// Another handle's flush may be making a new base (add) meanwhile.
	d.mu.Lock()
	base := d.base
	d.mu.Unlock()
	return &handle{fs: f.fs, file: f, node: base, d: d, append: flags&syscall.O_APPEND != 0}
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	if h.d != nil {
		if h.reader {
			return 0
		}
		err := h.d.commit(ctx)
		h.fs.releaseDirty(h.d)
		if err != nil {
			return h.fs.fail("save", h.d.where(), err)
		}
		return 0
	}
	h.cancel()
	h.mu.Lock()
	for k, sp := range h.spans {
		delete(h.spans, k)
		sp.unref()
	}
	h.mu.Unlock()
	f := h.file
	f.mu.Lock()
	defer f.mu.Unlock()
	v := h.node.Version()
	if f.open[v]--; f.open[v] <= 0 {
		delete(f.open, v)
	}
	if len(f.open) == 0 {
		f.open = nil // a map kept for each file ever read was 265 bytes a file
	}
	return 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if h.d == nil || h.reader {
		return 0, syscall.EBADF
	}
	if h.append {
		off = h.d.Size()
	}
	if err := h.d.WriteAt(ctx, data, off); err != nil {
		return 0, h.fs.fail("write", h.d.where(), err)
	}
	return uint32(len(data)), 0
}

// Allocate makes room: a file grows to off+size (mode 0); with
// FALLOC_FL_KEEP_SIZE there is nothing to do, as nothing is reserved.
func (h *handle) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if h.d == nil || h.reader {
		return syscall.EBADF
	}
	switch mode {
	case 0:
		if end := int64(off + size); end > h.d.Size() {
			if err := h.d.Truncate(ctx, end); err != nil {
				return h.fs.fail("allocate", h.d.where(), err)
			}
		}
		return 0
	case 1: // FALLOC_FL_KEEP_SIZE
		return 0
	}
	return syscall.EOPNOTSUPP
}

// Flush is a close(2): what was written becomes a version, durable on
// this PC.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if h.d == nil || h.reader {
		return 0
	}
	if err := h.d.commit(ctx); err != nil {
		return h.fs.fail("save", h.d.where(), err)
	}
	return 0
}

// Fsync commits what was written and makes the stage durable against a
// power cut.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if h.d != nil && !h.reader {
		if err := h.d.commit(ctx); err != nil {
			return h.fs.fail("save", h.d.where(), err)
		}
	}
	if h.fs.stage != nil {
		if err := h.fs.stage.Sync(); err != nil {
			return h.fs.fail("save", h.node.Path, err)
		}
	}
	return 0
}

// fetch returns window k, starting its fetch if it has not started. The
// caller holds h.mu.
func (h *handle) fetch(k int64) *span {
	if sp := h.spans[k]; sp != nil {
		return sp
	}
	off := h.starts[k]
	end := int64(h.node.Size)
	if k+1 < int64(len(h.starts)) {
		end = h.starts[k+1]
	}
	sp := &span{done: make(chan struct{})}
	if end-off <= window {
		sp.pool = windowBufs.Get().(*[]byte)
		sp.buf = (*sp.pool)[:end-off]
	} else {
		sp.buf = make([]byte, end-off) // one chunk larger than a window
	}
	sp.refs.Store(2) // the map's, and the fetch's
	h.spans[k] = sp
	go func() {
		defer sp.unref()
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

// drop removes window k from the handle's map. The caller holds h.mu.
func (h *handle) drop(k int64) {
	if sp := h.spans[k]; sp != nil {
		delete(h.spans, k)
		sp.unref()
	}
}

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.d != nil {
		n, err := h.d.ReadAt(ctx, dest, off)
		if err != nil && err != io.EOF {
			return nil, h.fs.fail("read", h.d.where(), err)
		}
		return fuse.ReadResultData(dest[:n]), 0
	}
	size := int64(h.node.Size)
	if off >= size {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), size)
	n := 0
	for pos := off; pos < end; {
		h.mu.Lock()
		if h.starts == nil {
			h.starts = windowStarts(h.node.Chunks)
		}
		k := int64(sort.Search(len(h.starts), func(i int) bool { return h.starts[i] > pos })) - 1
		sp := h.fetch(k)
		if k == h.last+1 || k == h.last {
			// Sequential: fetch the next windows while this one is read.
			for j := k + 1; j <= k+prefetch && j < int64(len(h.starts)); j++ {
				h.fetch(j)
			}
		}
		h.last = k
		for j := range h.spans {
			if j < k-1 || j > k+prefetch {
				h.drop(j) // a bound on memory: behind, or far ahead after a seek
			}
		}
		sp.refs.Add(1) // this read's, while it uses buf
		lo := pos - h.starts[k]
		h.mu.Unlock()
		select {
		case <-sp.done:
		case <-ctx.Done():
			sp.unref()
			return nil, syscall.EINTR
		}
		if sp.err != nil {
			sp.unref()
			h.mu.Lock()
			if h.spans[k] == sp {
				h.drop(k) // try again on the next read
			}
			h.mu.Unlock()
			// Never wrong or empty data: an error the program sees, and a
			// line that names the file.
			h.fs.log.Error("dvpc mount: cannot read", "file", h.node.Path, "err", sp.err)
			return nil, syscall.EIO
		}
		if lo >= int64(len(sp.buf)) {
			sp.unref()
			break
		}
		if n == 0 && lo+(end-off) <= int64(len(sp.buf)) {
			// All in one window: the kernel gets the window's bytes
			// without a copy, and the reply holds the window until they
			// are sent.
			return &spanReply{sp: sp, b: [][]byte{sp.buf[lo : lo+(end-off)]}}, 0
		}
		c := copy(dest[n:end-off], sp.buf[lo:])
		sp.unref()
		n += c
		pos += int64(c)
	}
	return fuse.ReadResultData(dest[:n]), 0
}
