package volume

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
)

// A Stage makes this device's changes durable on this PC before they are
// on the mirror, so that the mount answers a close() or an fsync() without
// the net. Changes and the chunks they need are appended to a local log
// (sealed: the chunks as they go into packs, the changes under the local
// key), show in the volume's tree at once, and are committed to the mirror
// in batches by Flush: packs, index, and one journal segment per log. A
// crash loses nothing that was appended: the next OpenStage finds the logs
// and the next Flush commits them.
//
// The log's format is in docs/FORMAT.md ("The stage").
type Stage struct {
	v   *Volume
	dir string

	mu     sync.Mutex
	cur    *stageLog                    // the log appended to; nil until the first record
	closed []*stageLog                  // logs waiting for Flush, oldest first
	chunks map[dvpc.ChunkID]stagedChunk // chunks in logs, not yet in an index
	next   uint64                       // the number of the next log
	buf    []byte

	flushMu sync.Mutex // one Flush at a time
}

// stageLog is one log file.
type stageLog struct {
	seq     uint64
	f       *os.File
	size    int64
	entries int // changes in it
}

// stagedChunk is where a staged chunk's sealed bytes are.
type stagedChunk struct {
	log  *stageLog
	off  int64 // of the sealed bytes in the file
	n    int   // their length
	gen  uint32
	size uint32 // plaintext
}

// The record kinds of a stage log.
const (
	stageChunk   = 1
	stageEntries = 2
)

// stageMaxRecord bounds a record: a sealed chunk of the largest size, or a
// batch of changes.
const stageMaxRecord = 64 << 20

// StageRotate is the size at which a log is closed for Flush and a new one
// started.
const StageRotate = 64 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func stageName(seq uint64) string { return fmt.Sprintf("%016x.log", seq) }

// OpenStage opens the stage in dir, taking up the logs a crash or an
// unmount left there: their changes show in the tree at once and their
// chunks read, and the next Flush commits them. Records after a torn or
// damaged one are dropped (they were never acknowledged whole).
func (v *Volume) OpenStage(dir string) (*Stage, error) {
	const op errors.Op = "volume.OpenStage"
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errors.E(op, errors.IO, err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, errors.E(op, errors.IO, err)
	}
	s := &Stage{v: v, dir: dir, chunks: map[dvpc.ChunkID]stagedChunk{}, next: 1}
	var seqs []uint64
	for _, de := range names {
		n, ok := strings.CutSuffix(de.Name(), ".log")
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(n, 16, 64)
		if err != nil || len(n) != 16 {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		f, err := os.OpenFile(filepath.Join(dir, stageName(seq)), os.O_RDWR, 0)
		if err != nil {
			return nil, errors.E(op, errors.IO, err)
		}
		l := &stageLog{seq: seq, f: f}
		var entries []journal.Entry
		good, err := s.scan(l, func(r stageRecord) error {
			switch r.kind {
			case stageChunk:
				s.chunks[r.id] = stagedChunk{log: l, off: r.off, n: len(r.sealed), gen: r.gen, size: r.size}
			case stageEntries:
				entries = append(entries, r.entries...)
			}
			return nil
		})
		if err != nil {
			return nil, errors.E(op, err)
		}
		if err := f.Truncate(good); err != nil { // drop a torn tail
			return nil, errors.E(op, errors.IO, err)
		}
		l.size, l.entries = good, len(entries)
		s.stageEntries(entries)
		s.closed = append(s.closed, l)
		s.next = seq + 1
	}
	v.mu.Lock()
	v.stage = s
	v.mu.Unlock()
	return s, nil
}

// stageEntries adds changes of this device to the volume: to its tree, in
// place when it is built (they are newer than everything in it), and to
// the changes to commit.
func (s *Stage) stageEntries(entries []journal.Entry) {
	v := s.v
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := range entries {
		e := &entries[i]
		v.clock = max(v.clock, e.Time)
		v.staged = append(v.staged, *e)
		if v.tree != nil {
			v.tree.apply(Change{Device: v.me.ID, Entry: &v.staged[len(v.staged)-1]})
		}
	}
	// Appending may have moved v.staged: the tree keeps its own pointers,
	// so that is fine; the next merge takes the entries from v.staged.
}

// stageRecord is one decoded record of a log.
type stageRecord struct {
	kind    byte
	off     int64 // of the sealed chunk bytes
	id      dvpc.ChunkID
	gen     uint32
	size    uint32
	sealed  []byte
	entries []journal.Entry
}

// scan reads the log l from its start and calls fn for each record. It
// returns the length of the good prefix: where the first torn or damaged
// record starts.
func (s *Stage) scan(l *stageLog, fn func(stageRecord) error) (int64, error) {
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return 0, errors.E(errors.IO, err)
	}
	r := bufio.NewReaderSize(l.f, 1<<20)
	head := make([]byte, dvpc.HeaderSize)
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, nil // torn before its first record: nothing in it
	}
	if _, err := dvpc.ParseHeader(head, dvpc.KindStage); err != nil {
		return 0, errors.E(errors.Corrupt, stageName(l.seq), err)
	}
	var err error
	good, perr := parseStage(r, dvpc.HeaderSize, func(off int64, body []byte) error {
		var r stageRecord
		r, err = s.decode(l.seq, off, body)
		if err != nil {
			return err
		}
		return fn(r)
	})
	if perr != nil && perr != errStageTorn && err == nil {
		return 0, perr
	}
	return good, nil
}

var errStageTorn = errors.Str("torn record")

// parseStage reads the records of a log from r, which is at offset off of
// it: each is a 4-byte big-endian length, a 4-byte CRC-32C of the body,
// and the body. It calls fn with each body and the offset of the body in
// the log, and returns the length of the prefix that holds whole records
// with good checksums that fn accepted; errStageTorn where it stopped at a
// bad record.
func parseStage(r io.Reader, off int64, fn func(off int64, body []byte) error) (int64, error) {
	var head [8]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, head[:]); err == io.EOF {
			return off, nil
		} else if err != nil {
			return off, errStageTorn
		}
		n := binary.BigEndian.Uint32(head[:4])
		if n == 0 || n > stageMaxRecord {
			return off, errStageTorn
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return off, errStageTorn
		}
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(head[4:]) {
			return off, errStageTorn
		}
		if err := fn(off+8, body); err != nil {
			return off, errStageTorn
		}
		off += 8 + int64(n)
	}
}

func (s *Stage) entriesAD(seq uint64, off int64) []byte {
	b := append([]byte("dvpc stage"), s.v.cfg.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, uint64(off))
}

// decode decodes one record body found at off in log seq.
//
//	chunk:   1 | gen u32 | chunk id (32) | plaintext size u32 | sealed chunk
//	changes: 2 | seal(local, count uvarint | entries, ad)
func (s *Stage) decode(seq uint64, off int64, body []byte) (stageRecord, error) {
	r := stageRecord{kind: body[0]}
	switch body[0] {
	case stageChunk:
		if len(body) < 1+4+32+4 {
			return r, errors.E(errors.Corrupt, errors.Str("short chunk record"))
		}
		r.gen = binary.BigEndian.Uint32(body[1:])
		copy(r.id[:], body[5:37])
		r.size = binary.BigEndian.Uint32(body[37:])
		r.sealed = body[41:]
		r.off = off + 41
		return r, nil
	case stageEntries:
		plain, err := s.v.keys.Local.Open(nil, body[1:], s.entriesAD(seq, off))
		if err != nil {
			return r, err
		}
		r.entries, err = journal.DecodeEntries(plain)
		return r, err
	}
	return r, errors.E(errors.Corrupt, errors.Str("unknown record kind "+strconv.Itoa(int(body[0]))))
}

// appendRecord appends one record, built by body from the offset its body
// will have, to the current log; s.mu is held. It is written with one
// write(2), which a crash of this process does not tear.
func (s *Stage) appendRecord(body func(b []byte, off int64) []byte) (*stageLog, int64, error) {
	l, err := s.current()
	if err != nil {
		return nil, 0, err
	}
	b := append(s.buf[:0], make([]byte, 8)...)
	b = body(b, l.size+8)
	frameRecord(b)
	s.buf = b
	return s.write(l, b)
}

// frameRecord fills in the length and checksum of the record b, whose
// body follows 8 bytes left for them.
func frameRecord(b []byte) {
	binary.BigEndian.PutUint32(b[:4], uint32(len(b)-8))
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], crcTable))
}

// current returns the log to append to, starting a new one when there is
// none or it is full; s.mu is held.
func (s *Stage) current() (*stageLog, error) {
	if s.cur != nil && s.cur.size < StageRotate {
		return s.cur, nil
	}
	if s.cur != nil {
		s.closed = append(s.closed, s.cur)
	}
	f, err := os.OpenFile(filepath.Join(s.dir, stageName(s.next)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, errors.E(errors.IO, err)
	}
	if _, err := f.Write(dvpc.AppendHeader(nil, dvpc.KindStage)); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, errors.E(errors.IO, fmt.Errorf("the local write log: %w", err))
	}
	s.cur = &stageLog{seq: s.next, f: f, size: dvpc.HeaderSize}
	s.next++
	return s.cur, nil
}

// write appends the framed record b to l and returns the offset of its
// body; s.mu is held.
func (s *Stage) write(l *stageLog, b []byte) (*stageLog, int64, error) {
	if _, err := l.f.WriteAt(b, l.size); err != nil {
		// What was written of it is overwritten by the next record.
		return nil, 0, errors.E(errors.IO, fmt.Errorf("the local write log: %w", err))
	}
	off := l.size + 8
	l.size += int64(len(b))
	return l, off, nil
}

// StoreChunk makes data durable in the stage (unless the volume or the
// stage has it already) and returns its reference.
func (s *Stage) StoreChunk(data []byte) (journal.ChunkRef, error) {
	v := s.v
	id := v.codec.ID(data)
	ref := journal.ChunkRef{ID: id, Size: uint32(len(data))}
	if _, ok := v.index.Lookup(id); ok {
		return ref, nil
	}
	s.mu.Lock()
	_, staged := s.chunks[id]
	s.mu.Unlock()
	if staged {
		return ref, nil
	}
	g := v.newest()
	// The whole record is built here, on the caller's core: under s.mu
	// only its write.
	bp, ok := sealBufs.Get()
	if !ok {
		bp = new([]byte)
	}
	b := append((*bp)[:0], make([]byte, 8)...)
	b = append(b, stageChunk)
	b = binary.BigEndian.AppendUint32(b, g.keys.Gen)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	// Someone waits for this write: it is compressed later, by Flush.
	b = g.codec.SealPlain(b, id, data)
	frameRecord(b)
	defer func() { *bp = b; sealBufs.Put(bp) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.chunks[id]; ok {
		return ref, nil
	}
	l, err := s.current()
	if err != nil {
		return ref, err
	}
	l, off, err := s.write(l, b)
	if err != nil {
		return ref, err
	}
	s.chunks[id] = stagedChunk{log: l, off: off + 41, n: len(b) - 8 - 41, gen: g.keys.Gen, size: uint32(len(data))}
	return ref, nil
}

// Add stamps changes with this device's next clock readings, makes them
// durable in the stage, and applies them to the volume's tree. It returns
// them as stamped.
//
// The tree Volume.Tree returned is changed in place: a caller that reads
// it from other goroutines must not do so during Add.
func (s *Stage) Add(entries ...journal.Entry) ([]journal.Entry, error) {
	v := s.v
	if err := v.errRevoked(); err != nil {
		return nil, err
	}
	for i := range entries {
		if err := journal.Check(&entries[i]); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v.mu.Lock()
	for i := range entries {
		entries[i].Time = v.clock.Next(v.now())
		v.clock = entries[i].Time
	}
	v.mu.Unlock()
	plain := journal.EncodeEntries(entries)
	l, _, err := s.appendRecord(func(b []byte, off int64) []byte {
		b = append(b, stageEntries)
		return v.keys.Local.Seal(b, plain, s.entriesAD(s.cur.seq, off))
	})
	if err != nil {
		return nil, err
	}
	l.entries += len(entries)
	s.stageEntries(entries)
	return entries, nil
}

// Sync makes what was appended durable against a power cut (a crash of
// this process loses nothing appended even without it).
func (s *Stage) Sync() error {
	s.mu.Lock()
	l := s.cur
	s.mu.Unlock()
	if l == nil {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return errors.E(errors.IO, fmt.Errorf("the local write log: %w", err))
	}
	return nil
}

// Pending returns how many changes wait in the stage for the mirror.
func (s *Stage) Pending() int {
	s.v.mu.Lock()
	defer s.v.mu.Unlock()
	return len(s.v.staged)
}

// readChunk returns the plaintext of a staged chunk appended to dst, or
// false if the stage does not hold it.
func (s *Stage) readChunk(dst []byte, id dvpc.ChunkID) ([]byte, bool, error) {
	s.mu.Lock()
	c, ok := s.chunks[id]
	s.mu.Unlock()
	if !ok {
		return dst, false, nil
	}
	sealed := make([]byte, c.n)
	if _, err := c.log.f.ReadAt(sealed, c.off); err != nil {
		return dst, true, errors.E(errors.IO, fmt.Errorf("the local write log: %w", err))
	}
	codec, err := s.v.codecFor(c.gen)
	if err != nil {
		return dst, true, err
	}
	start := len(dst)
	dst, err = codec.Open(dst, id, sealed)
	if err == nil && len(dst)-start != int(c.size) {
		err = errors.E(errors.Corrupt, errors.Str("a chunk of the local write log has the wrong size"))
	}
	return dst, true, err
}

// Flush commits what the stage holds to the mirror: for each log, oldest
// first, its chunks in packs, an index, and its changes in one journal
// segment; then the log is removed. A log that fails to commit stays for
// the next Flush.
func (s *Stage) Flush(ctx context.Context) error {
	const op errors.Op = "volume.Flush"
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if s.cur != nil {
		s.closed = append(s.closed, s.cur)
		s.cur = nil
	}
	logs := append([]*stageLog(nil), s.closed...)
	s.mu.Unlock()
	for _, l := range logs {
		if err := s.commit(ctx, l); err != nil {
			return errors.E(op, err)
		}
	}
	return nil
}

// commit commits one closed log and removes it.
func (s *Stage) commit(ctx context.Context, l *stageLog) error {
	v := s.v
	if err := l.f.Sync(); err != nil {
		return errors.E(errors.IO, err)
	}
	w := v.NewWriter(ctx)
	defer w.Close()
	var entries []journal.Entry
	var cerr error
	var sealBuf, plainBuf []byte
	if _, err := s.scan(l, func(r stageRecord) error {
		switch r.kind {
		case stageChunk:
			if _, ok := v.index.Lookup(r.id); ok {
				return nil
			}
			// The stage holds chunks uncompressed: compress what pays
			// now, in the background of the writes.
			codec, err := v.codecFor(r.gen)
			if err != nil {
				cerr = err
				return err
			}
			if cache := v.chunkCache(); cache != nil {
				// What was written here reads here, offline too; the
				// cache keeps chunks uncompressed, as the stage does.
				cache.Put(r.id, r.gen, r.sealed) // a copy
			}
			// Its id was computed here, from the plaintext, when it was
			// staged: the AEAD alone proves the bytes are those, as for
			// the cache's (OpenVerified).
			plain, unpacked, err := codec.OpenVerified(plainBuf[:0], r.id, r.sealed)
			if err != nil {
				cerr = errors.E(errors.Corrupt, errors.Str("a chunk of the local write log "+stageName(l.seq)), err)
				return cerr
			}
			if unpacked {
				plainBuf = plain // decompressed into it, grown: kept
			}
			sealed := codec.Seal(sealBuf[:0], r.id, plain)
			sealBuf = sealed // the writer copies it
			if cerr = w.storeSealed(r.id, r.gen, sealed, r.size); cerr != nil {
				return cerr
			}
		case stageEntries:
			entries = append(entries, r.entries...)
		}
		return nil
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if len(entries) != l.entries {
		return errors.E(errors.Corrupt, errors.Str(fmt.Sprintf(
			"the local write log %s holds %d changes of the %d written to it: the disk lost some", stageName(l.seq), len(entries), l.entries)))
	}
	w.entries = entries
	w.staged = true
	if err := w.Commit(ctx); err != nil {
		return err
	}
	// The changes are on the mirror (or in its outbox): the log goes.
	s.mu.Lock()
	for id, c := range s.chunks {
		if c.log == l {
			delete(s.chunks, id)
		}
	}
	s.closed = s.closed[1:]
	s.mu.Unlock()
	l.f.Close()
	if err := os.Remove(filepath.Join(s.dir, stageName(l.seq))); err != nil {
		return errors.E(errors.IO, err)
	}
	return nil
}

// Close flushes and closes the stage; what could not be flushed stays in
// its logs for the next OpenStage.
func (s *Stage) Close(ctx context.Context) error {
	err := s.Flush(ctx)
	if serr := s.v.SaveState(); err == nil {
		err = serr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.closed {
		l.f.Close()
	}
	if s.cur != nil {
		s.cur.f.Close()
	}
	s.v.mu.Lock()
	if s.v.stage == s {
		s.v.stage = nil
	}
	s.v.mu.Unlock()
	return err
}

// Cut returns the length of the first chunk of data, cut as this volume
// cuts: data must hold MaxChunk bytes, or run to the end of the file.
func (v *Volume) Cut(data []byte) int { return chunk.Cut(data, v.gear, v.cfg.Chunk) }

// MaxChunk returns the size of the largest chunk.
func (v *Volume) MaxChunk() int { return int(v.cfg.Chunk.Max) }

// Size returns the bytes of the stage's logs.
func (s *Stage) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, l := range s.closed {
		n += l.size
	}
	if s.cur != nil {
		n += s.cur.size
	}
	return n
}
