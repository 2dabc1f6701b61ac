package pack

import (
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/seal"
)

// Compression tags, the first byte of a sealed chunk's body.
const (
	compNone = 0
	compZstd = 1
)

// MaxChunk bounds a chunk's plaintext, so a forged length cannot make a
// reader allocate without limit.
const MaxChunk = 64 << 20

// Codec seals and opens chunks of one volume under one key generation. It
// is safe for concurrent use.
type Codec struct {
	keys *keys.Volume
	ids  *chunk.IDKey
	z    *zcodec
}

// zcodec is what the codecs of a volume's generations share.
type zcodec struct {
	enc encoder
	dec *zstd.Decoder
}

// NewCodec returns the chunk codec for a volume's keys.
func NewCodec(k *keys.Volume) *Codec {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxChunk),
		zstd.IgnoreChecksum(true)) // the AEAD and the chunk id verify the bytes
	if err != nil {
		panic(err)
	}
	return &Codec{keys: k, ids: chunk.NewIDKey(k.ChunkID), z: &zcodec{enc: newEncoder(), dec: dec}}
}

// WithKeys returns a codec that shares c's compressors and chunk ids but
// seals and opens under k's data key: another key generation of the volume.
func (c *Codec) WithKeys(k *keys.Volume) *Codec { return &Codec{keys: k, ids: c.ids, z: c.z} }

// WithGoEncoder returns a codec that compresses with the Go encoder in
// every build. It exists for test vectors: zstd's C library, which a
// build with cgo compresses with, may write other frames in other
// versions.
func (c *Codec) WithGoEncoder() *Codec {
	z := *c.z
	z.enc = newGoEncoder()
	return &Codec{keys: c.keys, ids: c.ids, z: &z}
}

// Gen is the key generation the codec seals under.
func (c *Codec) Gen() uint32 { return c.keys.Gen }

// ID returns the chunk id of data.
func (c *Codec) ID(data []byte) dvpc.ChunkID { return c.ids.Sum(data) }

func chunkAD(id dvpc.ChunkID) []byte { return append([]byte("dvpc chunk"), id[:]...) }

// minCompress is the smallest chunk worth compressing.
const minCompress = 64

// Seal appends the sealed form of the chunk data with the given id to dst.
// It compresses with zstd (level 3) when that saves at least 1/64. The
// chunk is compressed into dst and sealed there, in place: a buffer of its
// own cost each chunk being sealed at once 2 MiB more. So dst's spare
// capacity, all of which the compressor may write, must not overlap data.
func (c *Codec) Seal(dst []byte, id dvpc.ChunkID, data []byte) []byte {
	start := len(dst)
	dst = Room(dst, SealRoom(len(data)))
	head := dst[start+seal.NonceSize : start+seal.NonceSize+1]
	head[0] = compZstd
	body, ok := head, len(data) >= minCompress
	if ok {
		body, ok = c.z.enc.encode(body, data)
	}
	if !ok || len(body)-1 >= len(data)-len(data)/64 {
		body = append(head[:1], data...)
		body[0] = compNone
	} else if &body[0] != &head[0] {
		body = append(head[:0], body...) // the encoder wrote elsewhere
	}
	n := seal.NonceSize + len(body)
	c.keys.Data.SealInPlace(dst[start:start+n], chunkAD(id))
	return dst[:start+n+seal.TagSize]
}

// Room returns b with room for n more bytes, reallocated (to exactly
// that) only when it has less. A caller that reuses a buffer for chunks
// of every size makes it once with room for the largest (SealRoom of the
// volume's largest chunk): grown to each chunk's size, half were made
// again, each time paying for its zeroing. Room itself adds no such
// floor: a chunk sealed into a fresh buffer (a small file's, from the
// mount's stage) then cost 8 MiB of zeroed memory.
func Room(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	nb := make([]byte, len(b), len(b)+n)
	copy(nb, b)
	return nb
}

// SealRoom is the room Seal needs for a chunk of n bytes: its nonce,
// compression byte and tag, and its compressed bound (which is more than
// n, so the chunk fits uncompressed too).
func SealRoom(n int) int { return seal.NonceSize + 1 + compressBound(n) + seal.TagSize }

// SealPlain is Seal without compression: a write someone waits for (the
// mount's stage) pays only for the cipher, and the chunk is compressed
// later, in the background, when it goes into a pack.
func (c *Codec) SealPlain(dst []byte, id dvpc.ChunkID, data []byte) []byte {
	// Sealed where it lands, with one copy of data.
	start := len(dst)
	n := seal.NonceSize + 1 + len(data)
	dst = slices.Grow(dst, n+seal.TagSize)[:start+n]
	dst[start+seal.NonceSize] = compNone
	copy(dst[start+seal.NonceSize+1:], data)
	c.keys.Data.SealInPlace(dst[start:], chunkAD(id))
	return dst[:start+n+seal.TagSize]
}

// Open verifies and opens a sealed chunk, appending its plaintext to dst.
// It decrypts in place: sealed is overwritten.
func (c *Codec) Open(dst []byte, id dvpc.ChunkID, sealed []byte) ([]byte, error) {
	return c.open(dst, id, sealed, true)
}

// OpenVerified is Open for a chunk whose plaintext was checked against its
// id before it was stored where it is read from now (this PC's cache): the
// AEAD alone proves it is those bytes, and the keyed hash, a fifth of the
// time of a cached read, is skipped. It also reports whether the chunk was
// compressed.
//
// An uncompressed chunk's plaintext is returned in sealed's own storage,
// without a copy; a compressed one's is appended to dst.
func (c *Codec) OpenVerified(dst []byte, id dvpc.ChunkID, sealed []byte) ([]byte, bool, error) {
	body, err := c.openBody(id, sealed)
	if err != nil {
		return nil, false, err
	}
	if body[0] == compNone {
		return body[1:], false, nil
	}
	dst, err = c.decode(dst, id, body, false)
	return dst, true, err
}

// OpenTo is Open that leaves sealed as it is: it decrypts into scratch's
// storage (grown when too small, and returned for reuse) and appends the
// plaintext to dst. A reader that keeps the sealed bytes (for this PC's
// cache) opens them so without copying them first.
func (c *Codec) OpenTo(dst, scratch []byte, id dvpc.ChunkID, sealed []byte) (out, scratchOut []byte, err error) {
	body, err := c.keys.Data.Open(scratch[:0], sealed, chunkAD(id))
	if body, err = checkBody(id, body, err); err != nil {
		return nil, scratch, err
	}
	if cap(body) > cap(scratch) {
		scratch = body[:0]
	}
	out, err = c.decode(dst, id, body, true)
	return out, scratch, err
}

func (c *Codec) open(dst []byte, id dvpc.ChunkID, sealed []byte, checkID bool) ([]byte, error) {
	body, err := c.openBody(id, sealed)
	if err != nil {
		return nil, err
	}
	return c.decode(dst, id, body, checkID)
}

// openBody decrypts a sealed chunk in place and returns its body: the
// compression byte and the data.
func (c *Codec) openBody(id dvpc.ChunkID, sealed []byte) ([]byte, error) {
	body, err := c.keys.Data.OpenInPlace(sealed, chunkAD(id))
	return checkBody(id, body, err)
}

// checkBody checks what opening chunk id gave: an error names the
// chunk, and a body needs its compression byte.
func checkBody(id dvpc.ChunkID, body []byte, err error) ([]byte, error) {
	if err != nil {
		return nil, errors.E(opOpen, errors.Corrupt, "chunk "+id.String(), err)
	}
	if len(body) == 0 {
		return nil, errors.E(opOpen, errors.Corrupt, "chunk "+id.String(), errors.Str("empty chunk body"))
	}
	return body, nil
}

const opOpen errors.Op = "pack.OpenChunk"

// decode appends the plaintext of a chunk's body to dst and, with checkID,
// checks it against the chunk's id.
func (c *Codec) decode(dst []byte, id dvpc.ChunkID, body []byte, checkID bool) ([]byte, error) {
	start := len(dst)
	var err error
	switch body[0] {
	case compNone:
		dst = append(dst, body[1:]...)
	case compZstd:
		// Decoded into the empty slice at dst's end: the decoder writes
		// in place only into an empty buffer; after other bytes it
		// decodes each block aside and copies it over (a tenth of the
		// time of opening text, BenchmarkOpenAfter).
		var out []byte
		out, err = c.z.dec.DecodeAll(body[1:], dst[start:])
		if err != nil {
			return nil, errors.E(opOpen, errors.Corrupt, "chunk "+id.String(), err)
		}
		dst = appendDecoded(dst, out)
	default:
		return nil, errors.E(opOpen, errors.Corrupt, "chunk "+id.String(), errors.Str("unknown compression"))
	}
	if checkID && c.ID(dst[start:]) != id {
		return nil, errors.E(opOpen, errors.Corrupt, "chunk "+id.String(), errors.Str("plaintext does not match its chunk id"))
	}
	return dst, nil
}

// appendDecoded returns dst followed by out, which the decoder wrote
// either in dst's spare capacity (then nothing is copied) or elsewhere.
func appendDecoded(dst, out []byte) []byte {
	n := len(dst)
	if len(out) > 0 && len(out) <= cap(dst)-n && &dst[n : n+1][0] == &out[0] {
		return dst[:n+len(out)]
	}
	return append(dst, out...)
}
