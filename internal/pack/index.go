package pack

import (
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
type Index struct {
	mu     sync.RWMutex
	chunks map[dvpc.ChunkID]Location
	packs  map[dvpc.ObjectID]PackEntries
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{chunks: map[dvpc.ChunkID]Location{}, packs: map[dvpc.ObjectID]PackEntries{}}
}

// Add records a pack's chunks.
func (x *Index) Add(p PackEntries) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.packs[p.Pack] = p
	for _, e := range p.Entries {
		if _, ok := x.chunks[e.ID]; !ok {
			x.chunks[e.ID] = Location{Pack: p.Pack, Offset: e.Offset, Length: e.Length, Raw: e.Raw, Gen: p.Gen}
		}
	}
}

// Lookup returns where a chunk is stored.
func (x *Index) Lookup(id dvpc.ChunkID) (Location, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.chunks[id]
	return l, ok
}

// Has reports whether the pack is in the index.
func (x *Index) Has(p dvpc.ObjectID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.packs[p]
	return ok
}

// Packs calls fn for each pack.
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
	return len(x.chunks)
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
