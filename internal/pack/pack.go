package pack

import (
	"encoding/binary"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Entry locates one chunk in a pack.
type Entry struct {
	ID     dvpc.ChunkID
	Offset uint32 // of the sealed chunk, from the start of the pack
	Length uint32 // of the sealed chunk
	Raw    uint32 // plaintext length
}

// TargetSize is the size at which a writer's pack is full.
const TargetSize = 16 << 20

// MaxSize bounds a pack a reader will accept.
const MaxSize = 1 << 30

const headerAD = "dvpc pack header"

// Writer assembles one pack. It is not safe for concurrent use.
type Writer struct {
	meta    *seal.Key
	buf     []byte
	entries []Entry
}

// NewWriter returns a writer that seals pack headers with meta.
func NewWriter(meta *seal.Key) *Writer {
	w := &Writer{meta: meta}
	w.Reset()
	return w
}

// Reset empties the writer for the next pack.
func (w *Writer) Reset() {
	w.buf = dvpc.AppendHeader(make([]byte, 0, TargetSize+TargetSize/8), dvpc.KindPack)
	w.entries = w.entries[:0:0]
}

// Add appends a sealed chunk.
func (w *Writer) Add(id dvpc.ChunkID, sealed []byte, raw int) {
	w.entries = append(w.entries, Entry{ID: id, Offset: uint32(len(w.buf)), Length: uint32(len(sealed)), Raw: uint32(raw)})
	w.buf = append(w.buf, sealed...)
}

// Len is the pack's size so far.
func (w *Writer) Len() int { return len(w.buf) }

// Count is the number of chunks added so far.
func (w *Writer) Count() int { return len(w.entries) }

// Full reports whether the pack has reached TargetSize.
func (w *Writer) Full() bool { return len(w.buf) >= TargetSize }

// Finish seals the header and returns the pack's bytes, id and entries.
// The writer must be Reset before reuse.
func (w *Writer) Finish() (data []byte, id dvpc.ObjectID, entries []Entry) {
	hdr := w.meta.Seal(nil, appendEntries(nil, w.entries), []byte(headerAD))
	w.buf = append(w.buf, hdr...)
	w.buf = binary.BigEndian.AppendUint32(w.buf, uint32(len(hdr)))
	return w.buf, dvpc.Hash(w.buf), w.entries
}

func appendEntries(b []byte, es []Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = append(b, e.ID[:]...)
		b = binary.AppendUvarint(b, uint64(e.Offset))
		b = binary.AppendUvarint(b, uint64(e.Length))
		b = binary.AppendUvarint(b, uint64(e.Raw))
	}
	return b
}

// parseEntries decodes a chunk list, checking every entry against the size
// of the pack it describes (packSize < 0: unknown).
func parseEntries(b []byte, packSize int64) ([]Entry, []byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b))/35 {
		return nil, nil, errors.Str("bad chunk count")
	}
	b = b[k:]
	es := make([]Entry, n)
	for i := range es {
		if len(b) < 32 {
			return nil, nil, errors.Str("truncated chunk list")
		}
		copy(es[i].ID[:], b)
		b = b[32:]
		var v [3]uint64
		for j := range v {
			x, k := binary.Uvarint(b)
			if k <= 0 || x > MaxSize {
				return nil, nil, errors.Str("bad chunk location")
			}
			v[j], b = x, b[k:]
		}
		if v[0] < dvpc.HeaderSize || v[1] < seal.Overhead || v[2] > MaxChunk ||
			(packSize >= 0 && v[0]+v[1] > uint64(packSize)) {
			return nil, nil, errors.Str("chunk location outside its pack")
		}
		es[i] = Entry{ID: es[i].ID, Offset: uint32(v[0]), Length: uint32(v[1]), Raw: uint32(v[2])}
	}
	return es, b, nil
}

// TrailerSize is how many bytes at the end of a pack hold the length of its
// sealed header.
const TrailerSize = 4

// ParseHeader opens a pack's sealed header given the pack's tail: at least
// the sealed header and the 4-byte length, and the pack's total size.
func ParseHeader(meta *seal.Key, tail []byte, packSize int64) ([]Entry, error) {
	const op errors.Op = "pack.ParseHeader"
	if len(tail) < TrailerSize {
		return nil, errors.E(op, errors.Corrupt, errors.Str("pack too short"))
	}
	n := int64(binary.BigEndian.Uint32(tail[len(tail)-TrailerSize:]))
	if n > int64(len(tail)-TrailerSize) || n+TrailerSize+dvpc.HeaderSize > packSize {
		return nil, errors.E(op, errors.Corrupt, errors.Str("bad pack header length"))
	}
	sealed := tail[len(tail)-TrailerSize-int(n) : len(tail)-TrailerSize]
	body, err := meta.Open(nil, sealed, []byte(headerAD))
	if err != nil {
		return nil, errors.E(op, err)
	}
	es, rest, err := parseEntries(body, packSize-n-TrailerSize)
	if err != nil || len(rest) != 0 {
		if err == nil {
			err = errors.Str("trailing bytes in pack header")
		}
		return nil, errors.E(op, errors.Corrupt, err)
	}
	return es, nil
}

// HeaderLength returns the length of the sealed header from the last four
// bytes of a pack, so a reader knows how much of the tail to fetch.
func HeaderLength(last4 []byte) int64 {
	return int64(binary.BigEndian.Uint32(last4)) + TrailerSize
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func uvarint(b []byte) (uint64, int)          { return binary.Uvarint(b) }
