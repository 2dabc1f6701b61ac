package mount

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/dvpc/dvpc/internal/bufs"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/seal"
	"github.com/dvpc/dvpc/internal/volume"
)

// block is the unit in which a file being written keeps what changed.
const block = 64 << 10

// slot is the room a block takes in the spill file, sealed.
const slot = block + seal.Overhead

// dirty is a file being written: its content is the version it started
// from (base), overlaid with the blocks written since, which are kept in
// a spill file sealed under a key that lives only in memory, so that no
// plaintext reaches the disk. commit turns it into a new version in the
// stage.
type dirty struct {
	fs *fsys

	// Under fs.dmu: where it is, what a commit replaces, whether it was
	// unlinked (then its content is dropped), the handles writing it.
	path    string
	baseVer journal.Version
	gone    bool
	opens   int

	mu      sync.Mutex
	base    *volume.Node   // the version its unwritten bytes come from; nil if none
	size    int64          // its size now
	limit   int64          // bytes of base that still show (a truncation hides the rest)
	mode    uint32         // permission bits
	mtime   int64          // modification time, ns
	spill   *os.File       // sealed blocks, at block index × slot; nil until the first
	key     *seal.Key      // the spill's key
	blocks  map[int64]bool // blocks in the spill
	changed bool           // differs from baseVer
	buf     []byte         // scratch: a sealed slot and a plaintext block, made when first needed

	// While an empty file is written front to back (cp, tar, a save),
	// what is written is cut into chunks and stored as it comes: no
	// spill, and close() has only the last chunk left to store. Any other
	// change ends the stream: what it stored becomes the base.
	stream bool
	sdone  int64    // bytes cut into chunks
	pend   []byte   // bytes written after them, not yet cut
	pbuf   *pendBuf // pend's storage, when it came from pendBufs
	// The cut chunks are stored (sealed) in parallel, each by a goroutine
	// of its own: swg counts them; srefs and serr are under smu.
	swg   sync.WaitGroup
	smu   sync.Mutex
	srefs []journal.ChunkRef // chunks cut, in order; filled in as stored
	serr  error
	// The chunks are cut off the pending bytes by a goroutine of the
	// stream's own, the cutter, while they hold a chunk of the largest
	// size: the writer's request only copies its bytes in. Only the
	// cutter moves pend's start; whatever else would change the stream
	// waits for it to stop (waitCutter). Under mu.
	cutting bool
	cutDone sync.Cond // broadcast when the cutter stops; its L is &mu
}

func newDirty(f *fsys, p string, n *volume.Node, ver journal.Version) *dirty {
	d := &dirty{fs: f, path: p, base: n, baseVer: ver, blocks: map[int64]bool{}}
	d.cutDone.L = &d.mu
	if n != nil {
		d.size, d.limit, d.mode, d.mtime = int64(n.Size), int64(n.Size), n.Mode, n.MTime
	}
	d.stream = d.size == 0
	return d
}

// scratch returns the scratch buffer; d.mu is held.
func (d *dirty) scratch() []byte {
	if d.buf == nil {
		d.buf = make([]byte, slot+block)
	}
	return d.buf
}

// streamWrite appends p to the stream and has the cutter store each
// chunk that is complete; d.mu is held. It returns the error of a chunk
// stored before, if any.
func (d *dirty) streamWrite(p []byte) error {
	limit := d.fs.vol.MaxChunk()
	if cap(d.pend) < len(d.pend)+len(p) {
		d.waitCutter() // it reads pend, which moves now
		need := len(d.pend) + len(p)
		// A new buffer, which chunks are cut from in place (the ones cut
		// from the old buffer may still be sealing): it doubles while
		// the file is smaller than a chunk can be, so that a small file
		// holds little; then it holds four chunks, so that a large one
		// copies its tail over once in three chunks or so. Those of four
		// chunks are reused: a fresh one cost as much in page faults as
		// the copying in and the chunking together.
		size := max(2*cap(d.pend), need)
		if size > limit {
			size = max(4*limit, need)
		}
		var b []byte
		var pb *pendBuf
		if size == 4*limit {
			pb = getPendBuf(size)
			b = pb.b[:len(d.pend)]
		} else {
			b = make([]byte, len(d.pend), size)
		}
		copy(b, d.pend)
		d.releasePend()
		d.pend, d.pbuf = b, pb
	}
	d.pend = append(d.pend, p...)
	d.size += int64(len(p))
	d.smu.Lock()
	err := d.serr
	d.smu.Unlock()
	if err != nil {
		return err
	}
	if len(d.pend) >= limit && !d.cutting {
		d.cutting = true
		go d.cutter(limit)
	}
	return nil
}

// waitCutter waits for the cutter to stop; d.mu is held (and let go of
// while it waits).
func (d *dirty) waitCutter() {
	for d.cutting {
		if waitHook != nil {
			waitHook()
		}
		d.cutDone.Wait()
	}
}

// cutHook and waitHook, when set (by a test, before any file is written),
// are called by the cutter after a cut, before it stores the chunk, and
// by waitCutter before it waits.
var cutHook, waitHook func()

// cutter cuts the pending bytes into chunks and starts storing each,
// while they hold limit bytes (a chunk of the largest size), and then
// stops. It cuts without d.mu, so that the writer goes on appending: a
// request of a single writer (cp, dd) then waits for the copying of its
// bytes alone, where the cut took as long again. Before it stores a
// chunk it takes a sealer's token: when the sealers are behind it waits
// for one, and a writer ahead of it waits at its buffer's end
// (waitCutter), four chunks pending.
func (d *dirty) cutter(limit int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.pend) >= limit {
		view := d.pend // only appended to while d.mu is let go
		d.mu.Unlock()
		n := d.fs.vol.Cut(view)
		if cutHook != nil {
			cutHook()
		}
		d.fs.sealers <- struct{}{}
		d.mu.Lock()
		if d.storeCut(n) != nil {
			break // the writer's next request returns it
		}
	}
	d.cutting = false
	d.cutDone.Broadcast()
}

// cutPending cuts the first chunk of the pending bytes and starts storing
// it; d.mu is held and the cutter stopped.
func (d *dirty) cutPending() error {
	d.fs.sealers <- struct{}{}
	return d.storeCut(d.fs.vol.Cut(d.pend))
}

// storeCut starts storing the first n pending bytes, holding a sealer's
// token, which it gives back when done; d.mu is held. The chunks are
// sealed on all cores at once: a single writer (cp) keeps one core busy
// with the kernel's copying alone.
func (d *dirty) storeCut(n int) error {
	data := d.pend[:n:n] // the sealer's alone: later bytes go after it
	d.sdone += int64(n)
	d.pend = d.pend[n:]
	d.smu.Lock()
	err := d.serr
	i := len(d.srefs)
	d.srefs = append(d.srefs, journal.ChunkRef{})
	d.smu.Unlock()
	if err != nil {
		<-d.fs.sealers
		return err
	}
	d.swg.Add(1)
	pb := d.pbuf
	if pb != nil {
		pb.refs.Add(1) // the sealer's, until it has sealed data
	}
	go func() {
		defer d.swg.Done()
		ref, err := d.fs.stage.StoreChunk(data)
		pb.unref()
		<-d.fs.sealers
		d.smu.Lock()
		defer d.smu.Unlock()
		d.srefs[i] = ref
		if err != nil && d.serr == nil {
			d.serr = err
		}
	}()
	return nil
}

// pendBuf is the storage of a stream's pending bytes, shared by the
// stream and the sealers of the chunks cut from it; the last of them to
// let go returns it to pendBufs.
type pendBuf struct {
	b    []byte
	refs atomic.Int32
}

// pendBufs keeps those of the stream's buffers that are four chunks
// long, across collections: enough for a few streams at once.
var pendBufs = bufs.New[*pendBuf](4, 10*time.Second)

// getPendBuf returns a buffer of size bytes, held once (by the stream).
func getPendBuf(size int) *pendBuf {
	pb, _ := pendBufs.Get()
	if pb == nil || cap(pb.b) != size {
		pb = &pendBuf{b: make([]byte, size)}
	}
	pb.refs.Store(1)
	return pb
}

func (pb *pendBuf) unref() {
	if pb != nil && pb.refs.Add(-1) == 0 {
		pendBufs.Put(pb)
	}
}

// releasePend lets go of pend's storage; d.mu is held, and pend is
// set anew after.
func (d *dirty) releasePend() {
	d.pbuf.unref()
	d.pend, d.pbuf = nil, nil
}

// stored waits for the chunks being stored and returns them all.
func (d *dirty) stored() ([]journal.ChunkRef, error) {
	d.swg.Wait()
	d.smu.Lock()
	defer d.smu.Unlock()
	return d.srefs, d.serr
}

// endStream makes what the stream stored the base, and its pending bytes
// spilled blocks; d.mu is held.
func (d *dirty) endStream(ctx context.Context) error {
	if !d.stream {
		return nil
	}
	d.waitCutter()
	refs, err := d.stored()
	if err != nil {
		return err
	}
	d.stream = false
	pend, pb := d.pend, d.pbuf
	d.pend, d.pbuf = nil, nil
	defer pb.unref()
	d.base = &volume.Node{Path: d.path, Change: volume.Change{Device: d.fs.vol.Me().ID,
		Entry: &journal.Entry{Op: journal.Put, Path: d.path, Size: uint64(d.sdone), Chunks: refs}}}
	d.size, d.limit = d.sdone, d.sdone
	if len(pend) == 0 {
		return nil
	}
	return d.writeLocked(ctx, pend, d.sdone)
}

// fill sets in out what the file is now: size, mode, time.
func (d *dirty) fill(out *fuse.Attr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out.Size = uint64(d.size)
	out.Blocks = (out.Size + 511) / 512
	out.Mode = out.Mode&^0o7777 | d.mode&0o7777
	if d.mtime != 0 {
		t := time.Unix(0, d.mtime)
		out.SetTimes(&t, &t, &t)
	}
}

// Size returns the size now.
func (d *dirty) Size() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size
}

// where returns where the file is now.
func (d *dirty) where() string {
	d.fs.dmu.Lock()
	defer d.fs.dmu.Unlock()
	return d.path
}

// setattr changes what a setattr asks.
func (d *dirty) setattr(ctx context.Context, hasSize bool, size int64, hasMode bool, mode uint32, hasMtime bool, mtime time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if hasSize {
		if err := d.truncateLocked(ctx, size); err != nil {
			return err
		}
	}
	if hasMode {
		d.mode = mode & 0o7777
	}
	if hasMtime {
		d.mtime = mtime.UnixNano()
	}
	d.changed = true
	return nil
}

func blockAD(k int64) []byte { return binary.BigEndian.AppendUint64([]byte("dvpc spill"), uint64(k)) }

// load reads block k as it is now into p (block bytes); d.mu is held.
func (d *dirty) load(ctx context.Context, k int64, p []byte) error {
	clear(p)
	if d.blocks[k] {
		sealed := d.scratch()[:slot]
		if _, err := d.spill.ReadAt(sealed, k*slot); err != nil {
			return errors.E(errors.IO, fmt.Errorf("the spill file of a file being written: %w", err))
		}
		plain, err := d.key.Open(p[:0], sealed, blockAD(k))
		if err != nil {
			return err
		}
		if len(plain) != block {
			return errors.E(errors.Corrupt, errors.Str("a spilled block has the wrong size"))
		}
		return nil
	}
	off := k * block
	if d.base == nil || off >= d.limit {
		return nil
	}
	n := min(int64(block), d.limit-off)
	got, err := d.fs.vol.ReadAt(ctx, d.base, p[:n], off)
	if err == io.EOF && int64(got) == n {
		err = nil
	}
	return err
}

// store writes block k (block bytes of p) to the spill; d.mu is held.
func (d *dirty) store(k int64, p []byte) error {
	if d.spill == nil {
		f, err := tempFile(d.fs.work)
		if err != nil {
			return err
		}
		var raw [seal.KeySize]byte
		rand.Read(raw[:])
		d.spill, d.key = f, seal.NewKey(raw)
	}
	sealed := d.key.Seal(d.scratch()[:0], p[:block], blockAD(k))
	if _, err := d.spill.WriteAt(sealed, k*slot); err != nil {
		return errors.E(errors.IO, fmt.Errorf("the spill file of a file being written: %w", err))
	}
	d.blocks[k] = true
	return nil
}

// tempFile makes a file in dir that has no name: it goes when closed, or
// when the process dies.
func tempFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "spill-*")
	if err != nil {
		return nil, errors.E(errors.IO, err)
	}
	os.Remove(f.Name())
	return f, nil
}

// ReadAt reads the file as it is now.
func (d *dirty) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.endStream(ctx); err != nil {
		return 0, err
	}
	return d.readLocked(ctx, p, off)
}

func (d *dirty) readLocked(ctx context.Context, p []byte, off int64) (int, error) {
	if off >= d.size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), d.size)
	b := d.scratch()[slot:]
	n := 0
	for pos := off; pos < end; {
		k := pos / block
		lo := pos - k*block
		if !d.blocks[k] && d.base != nil && pos < d.limit && lo == 0 && end-pos >= block && k*block+block <= d.limit {
			// A whole block of the base: read it straight into p.
			got, err := d.fs.vol.ReadAt(ctx, d.base, p[n:n+block], pos)
			if err != nil && !(err == io.EOF && got == block) {
				return n, err
			}
			n += block
			pos += block
			continue
		}
		if err := d.load(ctx, k, b); err != nil {
			return n, err
		}
		c := copy(p[n:end-off], b[lo:])
		n += c
		pos += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt writes p at off.
func (d *dirty) WriteAt(ctx context.Context, p []byte, off int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mtime = d.fs.now().UnixNano()
	d.changed = true
	if d.stream && off == d.size {
		return d.streamWrite(p)
	}
	if err := d.endStream(ctx); err != nil {
		return err
	}
	return d.writeLocked(ctx, p, off)
}

// writeLocked writes p at off through the spill; d.mu is held.
func (d *dirty) writeLocked(ctx context.Context, p []byte, off int64) error {
	end := off + int64(len(p))
	b := d.scratch()[slot:]
	for pos := off; pos < end; {
		k := pos / block
		lo := pos - k*block
		hi := min(end-k*block, block)
		whole := lo == 0 && hi == block
		if whole {
			clear(b)
		} else if err := d.load(ctx, k, b); err != nil {
			return err
		}
		copy(b[lo:hi], p[pos-off:])
		if err := d.store(k, b); err != nil {
			return err
		}
		pos = k*block + hi
	}
	if end > d.size {
		d.limit = min(d.limit, d.size) // what lies past the old end reads as written or zero
		d.size = end
	}
	return nil
}

// Truncate sets the size.
func (d *dirty) Truncate(ctx context.Context, size int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.truncateLocked(ctx, size)
}

func (d *dirty) truncateLocked(ctx context.Context, size int64) error {
	if size == d.size {
		return nil
	}
	if size == 0 {
		// Empty again: a new stream.
		d.waitCutter()
		d.stored()
		d.serr = nil
		d.base, d.size, d.limit, d.changed = nil, 0, 0, true
		clear(d.blocks)
		d.stream, d.srefs, d.sdone, d.pend = true, nil, 0, d.pend[:0]
		d.mtime = d.fs.now().UnixNano()
		return nil
	}
	if err := d.endStream(ctx); err != nil {
		return err
	}
	if size < d.size {
		// The bytes past size must read as zero if the file grows again.
		if k := size / block; size%block != 0 && d.blocks[k] {
			b := d.scratch()[slot:]
			if err := d.load(ctx, k, b); err != nil {
				return err
			}
			clear(b[size%block:])
			if err := d.store(k, b); err != nil {
				return err
			}
		}
		for k := range d.blocks {
			if k*block >= size {
				delete(d.blocks, k)
			}
		}
		d.limit = min(d.limit, size)
	} else {
		d.limit = min(d.limit, d.size)
	}
	d.size = size
	d.mtime = d.fs.now().UnixNano()
	d.changed = true
	return nil
}

// dirtyIn reports whether a block of the spill holds a byte of [a, b), or
// the base does not hold all of it; d.mu is held.
func (d *dirty) dirtyIn(a, b int64) bool {
	if b > d.limit {
		return true
	}
	for k := a / block; k*block < b; k++ {
		if d.blocks[k] {
			return true
		}
	}
	return false
}

// content reads the file from off as a stream; d.mu is held.
type content struct {
	d   *dirty
	ctx context.Context
	off int64
}

func (c *content) Read(p []byte) (int, error) {
	n, err := c.d.readLocked(c.ctx, p, c.off)
	c.off += int64(n)
	return n, err
}

// commit makes what was written a new version in the stage: chunks of
// the base that nothing touched are kept as they are, and from the first
// touched one the file is chunked again until the cut points meet the
// base's again. It returns whether there was anything to commit.
func (d *dirty) commit(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.changed {
		return nil
	}
	f := d.fs
	v := f.vol
	if d.stream {
		d.waitCutter()
		for len(d.pend) > 0 {
			if err := d.cutPending(); err != nil {
				return err
			}
		}
		refs, err := d.stored()
		if err != nil {
			return err
		}
		return d.add(refs)
	}
	// Where each chunk of the base starts.
	type span struct {
		i        int
		end      int64
		lastBase bool
	}
	starts := map[int64]span{}
	if d.base != nil {
		var off int64
		for i, c := range d.base.Chunks {
			end := off + int64(c.Size)
			starts[off] = span{i: i, end: end, lastBase: i == len(d.base.Chunks)-1}
			off = end
		}
	}
	var refs []journal.ChunkRef
	max := v.MaxChunk()
	buf := make([]byte, 0, min(int64(max), d.size))
	var pos int64 // the file's offset of buf[0]
	r := &content{d: d, ctx: ctx}
	for pos < d.size {
		// A chunk of the base that starts here and that nothing touched
		// is this version's chunk too: the cut point after it is the
		// same, since the cut depends only on the chunk's bytes. The last
		// chunk of the base ends where the base ended, not at a cut
		// point: it is kept only where this version ends too.
		if s, ok := starts[pos]; ok && s.end <= d.size && !d.dirtyIn(pos, s.end) && (!s.lastBase || s.end == d.size) {
			refs = append(refs, d.base.Chunks[s.i])
			pos = s.end
			buf = buf[:0]
			continue
		}
		if len(buf) < cap(buf) && pos+int64(len(buf)) < d.size {
			r.off = pos + int64(len(buf))
			want := min(int64(cap(buf)-len(buf)), d.size-r.off)
			n, err := io.ReadFull(r, buf[len(buf):len(buf)+int(want)])
			buf = buf[:len(buf)+n]
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
				return err
			}
		}
		if len(buf) == 0 {
			return errors.E(errors.IO, errors.Str("the file ended before its size"))
		}
		n := v.Cut(buf)
		ref, err := f.stage.StoreChunk(buf[:n])
		if err != nil {
			return err
		}
		refs = append(refs, ref)
		pos += int64(n)
		buf = append(buf[:0], buf[n:]...)
	}
	return d.add(refs)
}

// add stages the new version, made of refs; d.mu is held.
func (d *dirty) add(refs []journal.ChunkRef) error {
	f := d.fs
	f.tmu.Lock()
	defer f.tmu.Unlock()
	f.dmu.Lock()
	p, bv, gone := d.path, d.baseVer, d.gone
	f.dmu.Unlock()
	if gone {
		d.changed = false
		return nil
	}
	es, err := f.add(journal.Entry{Op: journal.Put, Path: p, Base: bv, Mode: d.mode, MTime: d.mtime, Size: uint64(d.size), Chunks: refs})
	if err != nil {
		return err
	}
	// The new version is the base from now on: the spill starts over.
	n := &volume.Node{Path: p, Change: volume.Change{Device: f.vol.Me().ID, Entry: &es[0]}}
	f.dmu.Lock()
	d.baseVer = n.Version()
	f.dmu.Unlock()
	d.base, d.limit, d.changed = n, d.size, false
	clear(d.blocks)
	d.releasePend()
	d.stream, d.srefs, d.sdone = false, nil, 0
	return nil
}

// close drops the spill.
func (d *dirty) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.spill != nil {
		d.spill.Close()
		d.spill = nil
	}
}
