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
}

// Index maps chunk ids to their locations. It is safe for concurrent use.
type Index struct {
	mu     sync.RWMutex
	chunks map[dvpc.ChunkID]Location
	packs  map[dvpc.ObjectID][]Entry
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{chunks: map[dvpc.ChunkID]Location{}, packs: map[dvpc.ObjectID][]Entry{}}
}

// Add records a pack's chunks.
func (x *Index) Add(p dvpc.ObjectID, es []Entry) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.packs[p] = es
	for _, e := range es {
		if _, ok := x.chunks[e.ID]; !ok {
			x.chunks[e.ID] = Location{Pack: p, Offset: e.Offset, Length: e.Length, Raw: e.Raw}
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

// Packs calls fn for each pack and its chunks.
func (x *Index) Packs(fn func(dvpc.ObjectID, []Entry)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for p, es := range x.packs {
		fn(p, es)
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
	Entries []Entry
}

// MarshalIndex encodes and seals an index object.
func MarshalIndex(meta *seal.Key, packs []PackEntries) []byte {
	return meta.Seal(dvpc.AppendHeader(nil, dvpc.KindIndex), EncodeIndex(packs), []byte(indexAD))
}

// EncodeIndex encodes the plaintext body of an index object.
func EncodeIndex(packs []PackEntries) []byte {
	var body []byte
	body = appendUvarint(body, uint64(len(packs)))
	for _, p := range packs {
		body = append(body, p.Pack[:]...)
		body = appendEntries(body, p.Entries)
	}
	return body
}

// ParseIndex opens and decodes an index object.
func ParseIndex(meta *seal.Key, b []byte) ([]PackEntries, error) {
	const op errors.Op = "pack.ParseIndex"
	sealed, err := dvpc.ParseHeader(b, dvpc.KindIndex)
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
	if k <= 0 || n > uint64(len(body))/33 {
		return nil, errors.Str("bad pack count")
	}
	body = body[k:]
	packs := make([]PackEntries, n)
	for i := range packs {
		if len(body) < 32 {
			return nil, errors.Str("truncated index")
		}
		copy(packs[i].Pack[:], body)
		var err error
		if packs[i].Entries, body, err = parseEntries(body[32:], MaxSize); err != nil {
			return nil, err
		}
	}
	if len(body) != 0 {
		return nil, errors.Str("trailing bytes in index")
	}
	return packs, nil
}
