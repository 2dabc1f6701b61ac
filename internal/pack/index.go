package pack

import (
	"encoding/binary"
	"slices"
	"sync"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Location says where a chunk is stored.
type Location struct {
	Pack   dvpc.ObjectID
	Offset uint32
	Length uint32
	Raw    uint32
	Gen    uint32 // the key generation that sealed the pack
}

// Index maps chunk ids to their locations. It is safe for concurrent use.
//
// It holds each pack's entries once, and maps the first 8 bytes of each
// chunk id to the entry (16 bytes a chunk in the map, where a map of whole
// ids to locations took 174 bytes a chunk: 174 MB for a million files).
// The rare id whose first 8 bytes another id already took goes in a map of
// whole ids.
type Index struct {
	mu     sync.RWMutex
	packs  []PackEntries
	byPack map[dvpc.ObjectID]int32
	chunks map[uint64]entryRef
	more   map[dvpc.ChunkID]entryRef
	n      int
}

// entryRef is the place of a chunk's entry: packs[pack].Entries[entry].
type entryRef struct{ pack, entry uint32 }

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{byPack: map[dvpc.ObjectID]int32{}, chunks: map[uint64]entryRef{}}
}

func prefix(id dvpc.ChunkID) uint64 { return binary.LittleEndian.Uint64(id[:8]) }

// lookup finds the entry of id; x.mu is held.
func (x *Index) lookup(id dvpc.ChunkID) (entryRef, bool) {
	if r, ok := x.chunks[prefix(id)]; ok && x.packs[r.pack].Entries[r.entry].ID == id {
		return r, true
	}
	r, ok := x.more[id]
	return r, ok
}

// AddAll records the chunks of packs, sizing the index for them first.
func (x *Index) AddAll(packs []PackEntries) {
	n := 0
	for _, p := range packs {
		n += len(p.Entries)
	}
	x.mu.Lock()
	if len(x.packs) == 0 && n > 0 {
		x.chunks = make(map[uint64]entryRef, n)
		x.byPack = make(map[dvpc.ObjectID]int32, len(packs))
		x.packs = slices.Grow(x.packs, len(packs))
	}
	x.mu.Unlock()
	for _, p := range packs {
		x.Add(p)
	}
}

// Add records a pack's chunks. A pack added again changes nothing; a
// chunk already indexed keeps its first location.
func (x *Index) Add(p PackEntries) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, ok := x.byPack[p.Pack]; ok {
		return
	}
	pi := uint32(len(x.packs))
	x.packs = append(x.packs, p)
	x.byPack[p.Pack] = int32(pi)
	for i, e := range p.Entries {
		if _, ok := x.lookup(e.ID); ok {
			continue
		}
		r := entryRef{pi, uint32(i)}
		k := prefix(e.ID)
		if _, taken := x.chunks[k]; !taken {
			x.chunks[k] = r
		} else {
			if x.more == nil {
				x.more = map[dvpc.ChunkID]entryRef{}
			}
			x.more[e.ID] = r
		}
		x.n++
	}
}

// Lookup returns where a chunk is stored.
func (x *Index) Lookup(id dvpc.ChunkID) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	r, ok := x.lookup(id)
	if !ok {
		return Location{}, false
	}
	p := &x.packs[r.pack]
	e := &p.Entries[r.entry]
	return Location{Pack: p.Pack, Offset: e.Offset, Length: e.Length, Raw: e.Raw, Gen: p.Gen}, true
}

// Has reports whether the pack is in the index.
func (x *Index) Has(p dvpc.ObjectID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.byPack[p]
	return ok
}

// Packs calls fn for each pack, in the order they were added.
func (x *Index) Packs(fn func(PackEntries)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, p := range x.packs {
		fn(p)
	}
}

// Len is the number of chunks indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.n
}

const indexAD = "dvpc index"

// PackEntries is one pack's part of an index object.
type PackEntries struct {
	Pack    dvpc.ObjectID
	Gen     uint32 // the key generation that sealed the pack
	Entries []Entry
}

// MarshalIndex encodes an index object and seals it with meta, the meta key
// of key generation gen.
func MarshalIndex(meta *seal.Key, gen uint32, packs []PackEntries) []byte {
	return meta.Seal(dvpc.AppendGenHeader(nil, dvpc.KindIndex, gen), EncodeIndex(packs), []byte(indexAD))
}

// EncodeIndex encodes the plaintext body of an index object.
func EncodeIndex(packs []PackEntries) []byte { return AppendIndex(nil, packs) }

// AppendIndex appends the encoding of packs, as EncodeIndex, to b.
func AppendIndex(b []byte, packs []PackEntries) []byte {
	b = appendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		b = append(b, p.Pack[:]...)
		b = appendUvarint(b, uint64(p.Gen))
		b = appendEntries(b, p.Entries)
	}
	return b
}

// ParseIndex opens and decodes an index object; meta is the meta key of its
// key generation (bytes 6-9).
func ParseIndex(meta *seal.Key, b []byte) ([]PackEntries, error) {
	const op errors.Op = "pack.ParseIndex"
	_, sealed, err := dvpc.ParseGenHeader(b, dvpc.KindIndex)
	if err != nil {
		return nil, errors.E(op, err)
	}
	body, err := meta.Open(nil, sealed, []byte(indexAD))
	if err != nil {
		return nil, errors.E(op, err)
	}
	packs, err := DecodeIndex(body)
	if err != nil {
		return nil, errors.E(op, errors.Corrupt, err)
	}
	return packs, nil
}

// DecodeIndex decodes the plaintext body of an index object.
func DecodeIndex(body []byte) ([]PackEntries, error) {
	n, k := uvarint(body)
	if k <= 0 || n > uint64(len(body))/34 {
		return nil, errors.Str("bad pack count")
	}
	body = body[k:]
	packs := make([]PackEntries, n)
	for i := range packs {
		if len(body) < 32 {
			return nil, errors.Str("truncated index")
		}
		copy(packs[i].Pack[:], body)
		gen, k := uvarint(body[32:])
		if k <= 0 || gen == 0 || gen > 1<<32-1 {
			return nil, errors.Str("bad pack key generation")
		}
		packs[i].Gen = uint32(gen)
		var err error
		if packs[i].Entries, body, err = parseEntries(body[32+k:], MaxSize); err != nil {
			return nil, err
		}
	}
	if len(body) != 0 {
		return nil, errors.Str("trailing bytes in index")
	}
	return packs, nil
}
