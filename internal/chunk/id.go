package chunk

import (
	"sync"

	"github.com/zeebo/blake3"
)

// IDKey hashes chunks into chunk ids: the 32-byte BLAKE3 hash of the chunk,
// in keyed mode under the volume's chunk-id key. Equal chunks get equal ids,
// and without the key an id says nothing about the chunk. The result is the
// bytes of a dvpc.ChunkID.
//
// An IDKey is safe for concurrent use. It must not be copied after first use.
type IDKey struct {
	proto *blake3.Hasher // keyed, never written to
	pool  sync.Pool      // of *blake3.Hasher cloned from proto
}

// NewIDKey returns the IDKey of a volume's chunk-id key.
func NewIDKey(key [32]byte) *IDKey {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		panic("chunk: " + err.Error()) // unreachable: the key is 32 bytes
	}
	k := &IDKey{proto: h}
	k.pool.New = func() any { return k.proto.Clone() }
	return k
}

// Sum returns the id of chunk.
func (k *IDKey) Sum(chunk []byte) [32]byte {
	h := k.pool.Get().(*blake3.Hasher)
	h.Reset()
	_, _ = h.Write(chunk)
	var id [32]byte
	h.Sum(id[:0])
	k.pool.Put(h)
	return id
}
