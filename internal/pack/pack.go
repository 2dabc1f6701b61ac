package pack

import (
	"bytes"
	"encoding/binary"
	"io"

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

// Writer assembles one pack, in memory or streamed to an io.Writer (such
// as a mirror's blob.ObjectWriter). It is not safe for concurrent use.
type Writer struct {
	meta    *seal.Key
	out     io.Writer
	buf     *bytes.Buffer // when writing to memory
	n       int
	entries []Entry
	err     error
}

// NewWriter returns a writer that builds the pack in memory and seals its
// header with meta, the meta key of key generation gen (the generation
// whose data key seals the chunks). Finish returns the pack.
func NewWriter(meta *seal.Key, gen uint32) *Writer {
	buf := bytes.NewBuffer(make([]byte, 0, TargetSize+TargetSize/8))
	w := NewStreamWriter(meta, gen, buf)
	w.buf = buf
	return w
}

// NewStreamWriter returns a writer that writes the pack to out as chunks
// are added. Close writes the header.
func NewStreamWriter(meta *seal.Key, gen uint32, out io.Writer) *Writer {
	w := &Writer{meta: meta, out: out}
	w.write(dvpc.AppendGenHeader(nil, dvpc.KindPack, gen))
	return w
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.out.Write(b)
	w.n += n
	w.err = err
}

// Add appends a sealed chunk.
func (w *Writer) Add(id dvpc.ChunkID, sealed []byte, raw int) error {
	w.entries = append(w.entries, Entry{ID: id, Offset: uint32(w.n), Length: uint32(len(sealed)), Raw: uint32(raw)})
	w.write(sealed)
	return w.err
}

// Len is the pack's size so far.
func (w *Writer) Len() int { return w.n }

// Count is the number of chunks added so far.
func (w *Writer) Count() int { return len(w.entries) }

// Full reports whether the pack has reached TargetSize.
func (w *Writer) Full() bool { return w.n >= TargetSize }

// Close seals and writes the header and the trailer, and returns the
// chunks of the pack.
func (w *Writer) Close() ([]Entry, error) {
	hdr := w.meta.Seal(nil, appendEntries(nil, w.entries), []byte(headerAD))
	w.write(hdr)
	w.write(binary.BigEndian.AppendUint32(nil, uint32(len(hdr))))
	return w.entries, w.err
}

// Finish closes a pack built in memory and returns its bytes, id and
// entries.
func (w *Writer) Finish() (data []byte, id dvpc.ObjectID, entries []Entry) {
	es, _ := w.Close() // writes to memory do not fail
	data = w.buf.Bytes()
	return data, dvpc.Hash(data), es
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
		if v[0] < FirstChunk || v[1] < seal.Overhead || v[2] > MaxChunk ||
			(packSize >= 0 && v[0]+v[1] > uint64(packSize)) {
			return nil, nil, errors.Str("chunk location outside its pack")
		}
		es[i] = Entry{ID: es[i].ID, Offset: uint32(v[0]), Length: uint32(v[1]), Raw: uint32(v[2])}
	}
	return es, b, nil
}

// FirstChunk is the offset of a pack's first chunk: after the common header
// and the key generation.
const FirstChunk = dvpc.HeaderSize + dvpc.GenSize

// TrailerSize is how many bytes at the end of a pack hold the length of its
// sealed header.
const TrailerSize = 4

// ParseHeader opens a pack's sealed header given the pack's tail: at least
// the sealed header and the 4-byte length, and the pack's total size. meta
// is the meta key of the pack's key generation (bytes 6-9 of the pack).
func ParseHeader(meta *seal.Key, tail []byte, packSize int64) ([]Entry, error) {
	const op errors.Op = "pack.ParseHeader"
	if len(tail) < TrailerSize {
		return nil, errors.E(op, errors.Corrupt, errors.Str("pack too short"))
	}
	n := int64(binary.BigEndian.Uint32(tail[len(tail)-TrailerSize:]))
	if n > int64(len(tail)-TrailerSize) || n+TrailerSize+FirstChunk > packSize {
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
