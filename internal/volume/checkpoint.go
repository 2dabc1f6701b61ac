package volume

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/pack"
)

// A checkpoint is a sealed snapshot of a merged tree and the journal
// positions it covers, so that a PC opening a volume with a long history
// reads the checkpoint and the segments after it, not the whole journal.
// History older than the checkpoint is read only when asked for.
//
// Object "checkpoints/<time, 16 hex digits>-<SHA-256>": the common header
// (kind 6) and seal(meta, body, ad = "dvpc checkpoint"). The body is a
// compression tag (0 none, 1 zstd) and then:
//
//	time     uint64 BE: the newest clock reading in the tree
//	devices  uvarint count; each: device id (16), seq (uint64 BE), id of that segment (32)
//	nodes    uvarint count; each: path (uvarint length, bytes), device id (16), entry (journal encoding)
//	indexes  uvarint count; each: the id of an index object the index below covers (32)
//	index    the body of an index object (see package pack) holding every pack known
type checkpoint struct {
	time    journal.HLC
	heads   map[dvpc.DeviceID]head
	nodes   []Node
	indexes []dvpc.ObjectID
	packs   []pack.PackEntries
}

// head is a position in a device's journal.
type head struct {
	seq uint64
	id  dvpc.ObjectID
}

// CheckpointEvery is how many changes after the last checkpoint make a
// device write a new one.
var CheckpointEvery = 20000

const checkpointAD = "dvpc checkpoint"

func (cp *checkpoint) encode() []byte { return cp.appendTo(nil) }

// appendTo appends the encoding of cp to b.
func (cp *checkpoint) appendTo(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(cp.time))
	devs := make([]dvpc.DeviceID, 0, len(cp.heads))
	for d := range cp.heads {
		devs = append(devs, d)
	}
	sort.Slice(devs, func(i, j int) bool { return string(devs[i][:]) < string(devs[j][:]) })
	b = binary.AppendUvarint(b, uint64(len(devs)))
	for _, d := range devs {
		b = append(b, d[:]...)
		h := cp.heads[d]
		b = binary.BigEndian.AppendUint64(b, h.seq)
		b = append(b, h.id[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(cp.nodes)))
	for i := range cp.nodes {
		n := &cp.nodes[i]
		b = binary.AppendUvarint(b, uint64(len(n.Path)))
		b = append(b, n.Path...)
		b = append(b, n.Device[:]...)
		b = journal.AppendEntry(b, n.Entry)
	}
	b = binary.AppendUvarint(b, uint64(len(cp.indexes)))
	for _, id := range cp.indexes {
		b = append(b, id[:]...)
	}
	return pack.AppendIndex(b, cp.packs)
}

func decodeCheckpoint(b []byte) (*checkpoint, error) {
	r := &stateReader{b: b}
	cp := &checkpoint{time: journal.HLC(r.u64()), heads: map[dvpc.DeviceID]head{}}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		var d dvpc.DeviceID
		copy(d[:], r.take(16))
		h := head{seq: r.u64()}
		copy(h.id[:], r.take(32))
		cp.heads[d] = h
	}
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	cp.nodes = make([]Node, 0, min(n, len(r.b)/20))
	var slab journal.Slab // the nodes' entries, a few large blocks
	for ; n > 0; n-- {
		pb := r.take(r.uvarint())
		var d dvpc.DeviceID
		copy(d[:], r.take(16))
		if r.err != nil {
			return nil, r.err
		}
		e, rest, err := slab.Decode(r.b)
		if err != nil {
			return nil, err
		}
		// A node's path is nearly always its entry's, which the entry's
		// decoding found canonical (a conflict copy's is not): one string
		// for both.
		p := e.Path
		if string(pb) != p {
			p = string(pb)
			if c, err := journal.CleanPath(p); err != nil || c != p {
				return nil, errors.Str("checkpoint node path is not canonical")
			}
		}
		r.b = rest
		cp.nodes = append(cp.nodes, Node{Path: p, Change: Change{Device: d, Entry: e}})
	}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		cp.indexes = append(cp.indexes, dvpc.ObjectID(r.take(32)))
	}
	if r.err != nil {
		return nil, r.err
	}
	packs, err := pack.DecodeIndex(r.b)
	if err != nil {
		return nil, err
	}
	cp.packs = packs
	return cp, nil
}

// Made when first used, as journal's are.
var (
	// See journal's encoder: a small window keeps little memory alive.
	cpEnc = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
		return e
	})
	cpDec = sync.OnceValue(func() *zstd.Decoder {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(journal.MaxSegment))
		return d
	})
)

func (v *Volume) marshalCheckpoint(cp *checkpoint) []byte {
	body := cpEnc().EncodeAll(cp.encode(), []byte{1})
	g := v.newest()
	return g.keys.Meta.Seal(dvpc.AppendGenHeader(nil, dvpc.KindCheckpoint, g.keys.Gen), body, []byte(checkpointAD))
}

func (v *Volume) parseCheckpoint(b []byte) (*checkpoint, error) {
	return v.parseCheckpointIn(b, false)
}

// parseCheckpointIn parses the checkpoint object b, opening it where it is
// (and so changing b) if inPlace: a million files make a checkpoint of
// 70 MB, and a second buffer of its size took half a second to clear.
func (v *Volume) parseCheckpointIn(b []byte, inPlace bool) (*checkpoint, error) {
	const op errors.Op = "volume.parseCheckpoint"
	_, sealed, err := dvpc.ParseGenHeader(b, dvpc.KindCheckpoint)
	if err != nil {
		return nil, errors.E(op, err)
	}
	meta, err := v.metaFor(b)
	if err != nil {
		return nil, errors.E(op, err)
	}
	var body []byte
	if inPlace {
		body, err = meta.OpenInPlace(sealed, []byte(checkpointAD))
	} else {
		body, err = meta.Open(nil, sealed, []byte(checkpointAD))
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(body) == 0 || body[0] > 1 {
		return nil, errors.E(op, errors.Corrupt, errors.Str("bad checkpoint compression"))
	}
	plain := body[1:]
	if body[0] == 1 {
		if plain, err = cpDec().DecodeAll(plain, nil); err != nil {
			return nil, errors.E(op, errors.Corrupt, err)
		}
	}
	cp, err := decodeCheckpoint(plain)
	if err != nil {
		return nil, errors.E(op, errors.Corrupt, err)
	}
	return cp, nil
}

func checkpointName(t journal.HLC, id dvpc.ObjectID) string {
	return fmt.Sprintf("checkpoints/%016x-%s", uint64(t), id)
}

// loadCheckpoint starts an empty local state from the newest checkpoint on
// the mirror, if there is one.
func (v *Volume) loadCheckpoint(ctx context.Context) error {
	var newest string
	err := v.store.List(ctx, "checkpoints/", func(i blob.Info) error {
		if _, ok := blob.Sum(i.Name); ok {
			newest = i.Name // names sort by time
		}
		return nil
	})
	if err != nil || newest == "" {
		return err
	}
	b, err := v.store.Get(ctx, newest, 0, -1)
	if err != nil {
		return err
	}
	if sum, _ := blob.Sum(newest); dvpc.ObjectID(sum) != dvpc.Hash(b) {
		return errors.E(errors.Corrupt, newest, errors.Str("checkpoint bytes do not match their hash"))
	}
	cp, err := v.parseCheckpointIn(b, true) // b is ours alone
	if err != nil {
		return errors.E(newest, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.base = cp
	v.cpSize = max(v.cpSize, len(cp.nodes))
	for d, h := range cp.heads {
		v.logs[d] = &devLog{from: h.seq, fromID: h.id, seq: h.seq, last: h.id}
	}
	for _, id := range cp.indexes {
		v.indexes[id] = true
	}
	for _, p := range cp.packs {
		v.index.Add(p)
	}
	cp.packs = nil // now in v.index
	v.clock = max(v.clock, cp.time)
	v.tree, v.dirty = nil, true
	return nil
}

// maybeCheckpoint writes a checkpoint when enough changes have gathered
// since the last one: CheckpointEvery, and at least half as many as the
// tree has nodes, so that the checkpoints of a growing volume grow
// geometrically and all of them together hold at most about three times
// the newest (one every 20,000 changes wrote 930 MB of checkpoints for a
// million files). A failure here loses nothing: it is only a shortcut.
func (v *Volume) maybeCheckpoint(ctx context.Context) error {
	v.mu.Lock()
	n := v.sinceCheckpointLocked()
	size := v.cpSize
	if v.tree != nil {
		size = max(size, len(v.tree.nodes))
	}
	if v.base != nil {
		size = max(size, len(v.base.nodes))
	}
	v.mu.Unlock()
	if n < max(CheckpointEvery, size/2) {
		return nil
	}
	return v.WriteCheckpoint(ctx)
}

// cpCount is how far sinceCheckpointLocked has counted one device's log.
type cpCount struct {
	first *journal.Entry // the log's first entry when counted: a new one means a new slice
	n     int            // entries counted
	newer int            // of them, those newer than the newest checkpoint
}

// sinceCheckpointLocked returns the number of changes newer than the
// newest checkpoint. It counts only the entries added since it last ran
// (logs are appended to after each commit, and would otherwise be scanned
// whole each time), and counts afresh when the checkpoint or a log's slice
// changed. v.mu is held.
func (v *Volume) sinceCheckpointLocked() int {
	if v.cpSeen == nil || v.cpAt != v.lastCP {
		v.cpSeen, v.cpNewer, v.cpAt = map[dvpc.DeviceID]cpCount{}, 0, v.lastCP
	}
	for dev, c := range v.cpSeen {
		if v.logs[dev] == nil {
			v.cpNewer -= c.newer
			delete(v.cpSeen, dev)
		}
	}
	for dev, l := range v.logs {
		c := v.cpSeen[dev]
		if len(l.entries) == 0 || c.first != &l.entries[0] || c.n > len(l.entries) {
			v.cpNewer -= c.newer
			c = cpCount{}
			if len(l.entries) > 0 {
				c.first = &l.entries[0]
			}
		}
		for i := c.n; i < len(l.entries); i++ {
			if l.entries[i].Time > v.lastCP {
				c.newer++
				v.cpNewer++
			}
		}
		c.n = len(l.entries)
		v.cpSeen[dev] = c
	}
	return v.cpNewer
}

// WriteCheckpoint writes a checkpoint of the current tree to the mirror.
// Its time is the newest of every change it covers, applied or not, so
// that a reader can tell which later changes are older than it.
func (v *Volume) WriteCheckpoint(ctx context.Context) error {
	t := v.Tree()
	v.mu.Lock()
	if v.stage != nil {
		// The tree holds staged changes, which no segment holds yet, and
		// the stage's user changes it in place: merge the committed ones
		// into a tree of the checkpoint's own.
		committed := v.committedLocked(0)
		if v.base == nil {
			t = Merge(committed, v.deviceName)
		} else {
			t = MergeFrom(v.base.nodes, committed, v.deviceName)
		}
	}
	cp := &checkpoint{heads: map[dvpc.DeviceID]head{}}
	if v.base != nil {
		cp.time = v.base.time
	}
	for _, c := range v.committedLocked(0) {
		cp.time = max(cp.time, c.Time)
	}
	for d, l := range v.logs {
		if l.seq > 0 {
			cp.heads[d] = head{seq: l.seq, id: l.last}
		}
	}
	for id := range v.indexes {
		cp.indexes = append(cp.indexes, id)
	}
	v.mu.Unlock()
	sort.Slice(cp.indexes, func(i, j int) bool { return string(cp.indexes[i][:]) < string(cp.indexes[j][:]) })
	v.index.Packs(func(p pack.PackEntries) { cp.packs = append(cp.packs, p) })
	sort.Slice(cp.packs, func(i, j int) bool { return string(cp.packs[i].Pack[:]) < string(cp.packs[j].Pack[:]) })
	paths := make([]string, 0, len(t.nodes))
	for p := range t.nodes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		cp.nodes = append(cp.nodes, *t.nodes[p])
	}
	b := v.marshalCheckpoint(cp)
	if err := v.store.Put(ctx, checkpointName(cp.time, dvpc.Hash(b)), b); err != nil {
		return errors.E(errors.Op("volume.WriteCheckpoint"), err)
	}
	v.mu.Lock()
	v.lastCP = max(v.lastCP, cp.time)
	v.cpSize = max(v.cpSize, len(cp.nodes))
	v.mu.Unlock()
	return nil
}

// parseCheckpointName reads the time from a checkpoint's name.
func parseCheckpointName(name string) (journal.HLC, bool) {
	base := strings.TrimPrefix(name, "checkpoints/")
	if len(base) != 16+1+64 {
		return 0, false
	}
	t, err := strconv.ParseUint(base[:16], 16, 64)
	return journal.HLC(t), err == nil
}

// syncCheckpoints notes the newest checkpoint on the mirror, and starts an
// empty local state from it.
func (v *Volume) syncCheckpoints(ctx context.Context) error {
	v.mu.Lock()
	empty := len(v.logs) == 0
	v.mu.Unlock()
	if empty {
		if err := v.loadCheckpoint(ctx); err != nil {
			return err
		}
	}
	return v.store.List(ctx, "checkpoints/", func(i blob.Info) error {
		if t, ok := parseCheckpointName(i.Name); ok {
			v.mu.Lock()
			v.lastCP = max(v.lastCP, t)
			v.mu.Unlock()
		}
		return nil
	})
}

// loadHistory reads the segments that the base checkpoint stands in for,
// so that every change of the volume is known.
func (v *Volume) loadHistory(ctx context.Context) error {
	v.mu.Lock()
	if v.base == nil {
		v.mu.Unlock()
		return nil
	}
	type todo struct {
		dev dvpc.DeviceID
		l   *devLog
	}
	var devs []todo
	for d, l := range v.logs {
		if l.from > 0 {
			devs = append(devs, todo{d, l})
		}
	}
	v.mu.Unlock()
	older := map[dvpc.DeviceID][]journal.Entry{}
	for _, t := range devs {
		es, err := v.readChain(ctx, t.dev, t.l.from, t.l.fromID)
		if err != nil {
			return errors.E(errors.Op("volume.loadHistory"), err)
		}
		older[t.dev] = es
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, t := range devs {
		t.l.entries = append(older[t.dev], t.l.entries...)
		t.l.from, t.l.fromID = 0, dvpc.ObjectID{}
	}
	v.base, v.tree, v.dirty = nil, nil, true
	return nil
}

// readChain reads a device's segments 1 to upto, checking that they chain
// to the segment with the given id.
func (v *Volume) readChain(ctx context.Context, dev dvpc.DeviceID, upto uint64, id dvpc.ObjectID) ([]journal.Entry, error) {
	var names []segName
	err := v.store.List(ctx, "journal/"+dev.String()+"/", func(i blob.Info) error {
		if s, ok := parseSegName(i.Name); ok && s.seq <= upto {
			names = append(names, s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	d := v.devices[dev]
	v.mu.Unlock()
	if d == nil {
		return nil, errors.E(errors.Corrupt, "journal/"+dev.String(), errors.Str("segments of a device with no record on the mirror"))
	}
	var es []journal.Entry
	var prev dvpc.ObjectID
	next := uint64(1)
	for _, s := range names {
		if s.seq != next {
			continue // a second object claiming a seq already read
		}
		b, err := v.store.Get(ctx, s.name, 0, -1)
		if err != nil {
			return nil, err
		}
		if dvpc.Hash(b) != s.id {
			return nil, errors.E(errors.Corrupt, s.name, errors.Str("segment bytes do not match their hash"))
		}
		seg, err := v.openSegment(d, b)
		if err != nil {
			return nil, errors.E(s.name, err)
		}
		if seg.Seq != s.seq || seg.Prev != prev {
			return nil, errors.E(errors.Corrupt, s.name, errors.Str("segment breaks its device's chain"))
		}
		es = append(es, seg.Entries...)
		prev, next = s.id, next+1
	}
	if next != upto+1 || prev != id {
		return nil, errors.E(errors.NotExist, "journal/"+dev.String(), errors.Str("the mirror lacks history that a checkpoint refers to: restore it from another mirror"))
	}
	return es, nil
}
