package journal

import (
	"encoding/binary"

	"github.com/dvpc/dvpc/internal/errors"
)

// EncodeEntries encodes an entry list: count, then each entry.
func EncodeEntries(es []Entry) []byte { return AppendEntries(nil, es) }

// AppendEntries appends the encoding of es, as EncodeEntries, to b.
func AppendEntries(b []byte, es []Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(es)))
	for i := range es {
		b = AppendEntry(b, &es[i])
	}
	return b
}

// AppendEntry appends the encoding of e (see the package doc).
func AppendEntry(b []byte, e *Entry) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time))
	b = append(b, byte(e.Op))
	b = appendString(b, e.Path)
	if e.Base.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = append(b, e.Base.Device[:]...)
		b = binary.BigEndian.AppendUint64(b, uint64(e.Base.Time))
	}
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendVarint(b, e.MTime)
	b = binary.AppendUvarint(b, e.Size)
	b = appendString(b, e.Target)
	b = binary.AppendUvarint(b, uint64(len(e.Chunks)))
	for _, c := range e.Chunks {
		b = append(b, c.ID[:]...)
		b = binary.AppendUvarint(b, uint64(c.Size))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// decoder reads the entry encoding, remembering the first error.
type decoder struct {
	b    []byte
	err  error
	slab *Slab // where chunk lists come from, if not nil
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.Str(msg)
	}
	d.b = nil
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail("truncated entry")
		return make([]byte, n&0xffff)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint(max uint64) uint64 {
	v, k := binary.Uvarint(d.b)
	if k <= 0 || v > max {
		d.fail("bad number in entry")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) varint() int64 {
	v, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("bad number in entry")
		return 0
	}
	d.b = d.b[k:]
	return v
}

func (d *decoder) u64() uint64 { return binary.BigEndian.Uint64(d.bytes(8)) }

func (d *decoder) string(max uint64) string { return string(d.bytes(int(d.uvarint(max)))) }

// MaxChunks bounds the chunk list of one entry (64 TiB at 1 MiB a chunk).
const MaxChunks = 1 << 26

// DecodeEntries decodes and validates an entry list.
func DecodeEntries(b []byte) ([]Entry, error) {
	d := &decoder{b: b}
	n := d.uvarint(uint64(len(b)) / 12)
	es := make([]Entry, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		var e Entry
		d.entry(&e)
		if d.err == nil {
			if err := validEntry(&e); err != nil {
				return nil, err
			}
		}
		es = append(es, e)
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes after entries")
	}
	return es, d.err
}

func (d *decoder) entry(e *Entry) {
	e.Time = HLC(d.u64())
	e.Op = Op(d.bytes(1)[0])
	e.Path = d.string(MaxPath)
	switch d.bytes(1)[0] {
	case 0:
	case 1:
		copy(e.Base.Device[:], d.bytes(16))
		e.Base.Time = HLC(d.u64())
	default:
		d.fail("bad base flag")
	}
	e.Mode = uint32(d.uvarint(1<<32 - 1))
	e.MTime = d.varint()
	e.Size = d.uvarint(1 << 62)
	e.Target = d.string(MaxPath)
	n := d.uvarint(uint64(len(d.b)) / 33)
	if n > 0 {
		e.Chunks = d.slab.refs(int(n))
	}
	for i := range e.Chunks {
		copy(e.Chunks[i].ID[:], d.bytes(32))
		e.Chunks[i].Size = uint32(d.uvarint(1<<32 - 1))
	}
}

// Slab hands out the entries and chunk lists of many decoded entries from
// large blocks: a checkpoint of a million files decoded entry by entry
// made two million small objects. A block lives as long as any entry in
// it. The zero Slab is ready to use.
type Slab struct {
	entries []Entry
	chunks  []ChunkRef
}

// Slab blocks: about 100 KB of entries, 150 KB of chunk references.
const (
	slabEntries = 1 << 10
	slabChunks  = 1 << 12
)

// refs returns a chunk list of n, from the slab if s is not nil and n is
// small; its capacity is n, so that an append never reaches a neighbour's.
func (s *Slab) refs(n int) []ChunkRef {
	if s == nil || n > slabChunks/8 {
		return make([]ChunkRef, n)
	}
	if len(s.chunks) < n {
		s.chunks = make([]ChunkRef, slabChunks)
	}
	r := s.chunks[:n:n]
	s.chunks = s.chunks[n:]
	return r
}

// Decode decodes and validates one entry from the front of b, in the
// slab, and returns it and the rest.
func (s *Slab) Decode(b []byte) (*Entry, []byte, error) {
	if len(s.entries) == 0 {
		s.entries = make([]Entry, slabEntries)
	}
	e := &s.entries[0]
	rest, err := decodeInto(e, b, s)
	if err != nil {
		*e = Entry{} // the next entry is decoded here: nothing of this one may stay
		return nil, nil, err
	}
	s.entries = s.entries[1:]
	return e, rest, nil
}

// decodeInto decodes and validates one entry from the front of b into e,
// its chunk list from s if not nil, and returns the rest.
func decodeInto(e *Entry, b []byte, s *Slab) ([]byte, error) {
	d := &decoder{b: b, slab: s}
	d.entry(e)
	if d.err != nil {
		return nil, d.err
	}
	if err := validEntry(e); err != nil {
		return nil, err
	}
	return d.b, nil
}

// DecodeEntry decodes and validates one entry from the front of b and
// returns the rest.
func DecodeEntry(b []byte) (*Entry, []byte, error) {
	e := &Entry{}
	rest, err := decodeInto(e, b, nil)
	if err != nil {
		return nil, nil, err
	}
	return e, rest, nil
}
