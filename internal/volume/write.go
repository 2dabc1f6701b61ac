package volume

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/bufs"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/pack"
)

// packName is the object name of a pack.
func packName(id dvpc.ObjectID) string {
	s := id.String()
	return "data/" + s[:2] + "/" + s
}

// Writer collects a batch of this device's changes and the chunks they
// need, and commits them to the mirror: packs first, then the index object
// that lists them, then the journal segment that refers to them. A change
// is on the mirror only when Commit returns; a crash before that leaves at
// most packs that no index names, which RecoverPacks adopts.
//
// StoreChunk and Add are safe for concurrent use; Commit must not run
// concurrently with them.
type Writer struct {
	v   *Volume
	ctx context.Context
	gen *generation // the key generation that seals this writer's packs

	mu      sync.Mutex
	pw      *pack.Writer          // the open pack, or nil
	ow      blob.ObjectWriter     // where the open pack goes
	pending map[dvpc.ChunkID]bool // sealed into a pack not yet indexed
	packs   []pack.PackEntries    // uploaded, not yet indexed
	entries []journal.Entry
	staged  bool  // the entries are the volume's staged ones, already in its tree
	stored  int64 // bytes of packs uploaded

	uploads chan packJob
	slots   chan *slot // a chunk is sealed only in a slot: this bounds how many at once
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error // the first upload error
}

// A slot holds the buffers of one chunk being stored: a copy of it (an
// import's, whose chunker reuses its buffer) and its sealed form. A
// writer's slots are made once, with room for the largest chunk, and
// reused: pools of such buffers kept twice as many as were in use at once,
// a tenth of an import's resident memory more.
type slot struct {
	chunk  []byte
	sealed []byte
}

type packJob struct {
	ow      blob.ObjectWriter
	entries []pack.Entry
}

// uploaders is how many packs are uploaded at once.
const uploaders = 2

// NewWriter starts a batch.
func (v *Volume) NewWriter(ctx context.Context) *Writer {
	w := &Writer{v: v, ctx: ctx, gen: v.newest(), pending: map[dvpc.ChunkID]bool{}, uploads: make(chan packJob),
		slots: make(chan *slot, runtime.GOMAXPROCS(0)+1)}
	for range cap(w.slots) {
		w.slots <- new(slot)
	}
	for range uploaders {
		go w.uploader(ctx)
	}
	return w
}

func (w *Writer) uploader(ctx context.Context) {
	for job := range w.uploads {
		id := dvpc.ObjectID(job.ow.Sum())
		err := job.ow.Commit(ctx, packName(id))
		w.mu.Lock()
		if err == nil {
			w.packs = append(w.packs, pack.PackEntries{Pack: id, Gen: w.gen.keys.Gen, Entries: job.entries})
			w.stored += job.ow.Len()
		}
		w.mu.Unlock()
		if err != nil {
			w.fail(errors.E(errors.Op("volume.upload"), packName(id), err))
		}
		w.wg.Done()
	}
}

func (w *Writer) fail(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
}

// Err returns the first upload error, if any.
func (w *Writer) Err() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

// StoreChunk makes sure the chunk data is stored (or will be by Commit) and
// returns its reference.
func (w *Writer) StoreChunk(data []byte) (journal.ChunkRef, error) {
	sl := <-w.slots
	defer func() { w.slots <- sl }()
	return w.storeChunk(data, sl)
}

// storeChunk is StoreChunk in the slot sl, which the caller holds.
func (w *Writer) storeChunk(data []byte, sl *slot) (journal.ChunkRef, error) {
	id := w.v.codec.ID(data)
	ref := journal.ChunkRef{ID: id, Size: uint32(len(data))}
	if _, ok := w.v.index.Lookup(id); ok {
		return ref, nil
	}
	w.mu.Lock()
	if w.pending[id] {
		w.mu.Unlock()
		return ref, nil
	}
	w.pending[id] = true
	w.mu.Unlock()

	// Made once with room for the largest chunk (see pack.Room).
	sl.sealed = pack.Room(sl.sealed[:0], pack.SealRoom(max(len(data), int(w.v.cfg.Chunk.Max))))
	sealed := w.gen.codec.Seal(sl.sealed, id, data)
	sl.sealed = sealed

	w.mu.Lock()
	var job *packJob
	err := w.addLocked(id, sealed, len(data))
	if err == nil && w.pw.Full() {
		job, err = w.finishPack()
	}
	w.mu.Unlock()
	if err != nil {
		w.fail(err)
		return ref, err
	}
	if job != nil {
		w.wg.Add(1)
		w.uploads <- *job
	}
	return ref, w.Err()
}

// storeSealed adds a chunk sealed under key generation gen (by a Stage)
// to the pending packs, sealing it again if gen is not the writer's.
func (w *Writer) storeSealed(id dvpc.ChunkID, gen uint32, sealed []byte, size uint32) error {
	w.mu.Lock()
	if w.pending[id] {
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	if gen != w.gen.keys.Gen {
		codec, err := w.v.codecFor(gen)
		if err != nil {
			return err
		}
		plain, err := codec.Open(nil, id, append([]byte(nil), sealed...))
		if err != nil {
			return err
		}
		sealed = w.gen.codec.Seal(nil, id, plain)
	}
	w.mu.Lock()
	w.pending[id] = true
	var job *packJob
	err := w.addLocked(id, sealed, int(size))
	if err == nil && w.pw.Full() {
		job, err = w.finishPack()
	}
	w.mu.Unlock()
	if err != nil {
		w.fail(err)
		return err
	}
	if job != nil {
		w.wg.Add(1)
		w.uploads <- *job
	}
	return w.Err()
}

// sealBufs keeps the buffers a stage's chunk records are built in,
// across collections (see package bufs): one for each core sealing, and
// a few more.
var sealBufs = bufs.New[*[]byte](8, 10*time.Second)

// addLocked adds a sealed chunk to the open pack, opening one if needed;
// w.mu is held.
func (w *Writer) addLocked(id dvpc.ChunkID, sealed []byte, raw int) error {
	if w.pw == nil {
		ow, err := blob.Create(w.ctx, w.v.store)
		if err != nil {
			return err
		}
		w.ow, w.pw = ow, pack.NewStreamWriter(w.gen.keys.Meta, w.gen.keys.Gen, ow)
	}
	return w.pw.Add(id, sealed, raw)
}

// finishPack closes the open pack, if any, for upload; w.mu is held.
func (w *Writer) finishPack() (*packJob, error) {
	if w.pw == nil {
		return nil, nil
	}
	es, err := w.pw.Close()
	job := &packJob{ow: w.ow, entries: es}
	w.pw, w.ow = nil, nil
	if err != nil {
		job.ow.Abort()
		return nil, err
	}
	return job, nil
}

// Add records a change, stamping it with this device's next clock reading.
func (w *Writer) Add(e journal.Entry) {
	if err := journal.Check(&e); err != nil {
		w.fail(err)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.v.mu.Lock()
	e.Time = w.v.clock.Next(w.v.now())
	w.v.clock = e.Time
	w.v.mu.Unlock()
	w.entries = append(w.entries, e)
}

// Stored returns how many bytes of packs this writer has uploaded.
func (w *Writer) Stored() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stored
}

// Commit uploads what is pending: the open pack, the index object for the
// packs uploaded since the last commit, and a segment with the changes.
func (w *Writer) Commit(ctx context.Context) error {
	const op errors.Op = "volume.Commit"
	w.mu.Lock()
	job, err := w.finishPack()
	w.mu.Unlock()
	if err != nil {
		w.fail(err)
	}
	if job != nil {
		w.wg.Add(1)
		w.uploads <- *job
	}
	w.wg.Wait()
	if err := w.Err(); err != nil {
		return errors.E(op, err)
	}
	w.mu.Lock()
	packs, entries, staged := w.packs, w.entries, w.staged
	w.packs, w.entries = nil, nil
	w.pending = map[dvpc.ChunkID]bool{}
	w.mu.Unlock()
	if len(packs) > 0 {
		if err := w.v.writeIndex(ctx, packs); err != nil {
			return errors.E(op, err)
		}
	}
	if len(entries) > 0 {
		if err := w.v.writeSegment(ctx, entries, staged); err != nil {
			return errors.E(op, err)
		}
		// A checkpoint is a shortcut for other PCs; failing to write one
		// loses nothing, and the next commit tries again.
		_ = w.v.maybeCheckpoint(ctx)
	}
	return w.v.saveState()
}

// Close stops the writer's uploaders. Uncommitted changes are dropped.
func (w *Writer) Close() {
	w.mu.Lock()
	if w.ow != nil {
		w.ow.Abort()
		w.pw, w.ow = nil, nil
	}
	w.mu.Unlock()
	close(w.uploads)
}

func (v *Volume) writeIndex(ctx context.Context, packs []pack.PackEntries) error {
	g := v.newest()
	b := pack.MarshalIndex(g.keys.Meta, g.keys.Gen, packs)
	id := dvpc.Hash(b)
	if err := v.store.Put(ctx, "index/"+id.String(), b); err != nil {
		return err
	}
	v.addIndex(id, packs)
	return nil
}

// MaxSegmentEntries bounds the entries of one segment; Commit splits larger
// batches.
const MaxSegmentEntries = 50000

// writeSegment writes entries to this device's journal, in segments of at
// most MaxSegmentEntries. Staged entries are the first of v.staged: they move from there to this
// device's log, and the tree, which holds them already, stays.
func (v *Volume) writeSegment(ctx context.Context, entries []journal.Entry, staged bool) error {
	for len(entries) > 0 {
		n := min(len(entries), MaxSegmentEntries)
		if err := v.writeOneSegment(ctx, entries[:n], staged); err != nil {
			return err
		}
		entries = entries[n:]
	}
	return nil
}

func (v *Volume) writeOneSegment(ctx context.Context, entries []journal.Entry, staged bool) error {
	if err := v.errRevoked(); err != nil {
		return err
	}
	v.mu.Lock()
	l := v.logs[v.me.ID]
	if l == nil {
		l = &devLog{}
	}
	seg := &journal.Segment{Device: v.me.ID, Seq: l.seq + 1, Prev: l.last, Entries: entries}
	v.mu.Unlock()
	g := v.newest()
	b := seg.Marshal(g.keys.Meta, g.keys.Gen, v.me.Key)
	id := dvpc.Hash(b)
	if err := v.store.Put(ctx, journal.Name(v.me.ID, seg.Seq, id), b); err != nil {
		return fmt.Errorf("writing journal segment %d: %w", seg.Seq, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	l.seq, l.last = seg.Seq, id
	l.entries = append(l.entries, entries...)
	v.logs[v.me.ID] = l
	v.dirty = true
	if staged {
		v.staged = v.staged[len(entries):]
	} else {
		v.tree = nil
	}
	return nil
}
