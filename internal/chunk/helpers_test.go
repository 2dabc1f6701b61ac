package chunk

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"
)

// randomData returns n pseudo-random bytes: ChaCha8 of math/rand/v2 seeded
// with 32 bytes of value seed.
func randomData(n int, seed byte) []byte {
	var s [32]byte
	for i := range s {
		s[i] = seed
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// testKey returns a key whose bytes count up from 32*k: testKey(0) is
// 0x00..0x1f, testKey(1) is 0x20..0x3f.
func testKey(k byte) [32]byte {
	var key [32]byte
	for i := range key {
		key[i] = 32*k + byte(i)
	}
	return key
}

// smallParams gives many chunks from little data, for tests that need them.
var smallParams = Params{Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}

// refCut is the cut rule exactly as doc.go states it, one byte at a time:
// the reference that Cut's unrolled loop must match.
func refCut(data []byte, g *Gear, p Params) int {
	strict, loose := p.masks()
	var fp uint64
	for i := int(p.Min); i < len(data) && i < int(p.Max); i++ {
		fp = fp<<1 + g[data[i]]
		mask := loose
		if i < int(p.Avg) {
			mask = strict
		}
		if fp&mask == 0 {
			return i + 1
		}
	}
	return min(len(data), int(p.Max))
}

// cutAll cuts data in memory with Cut and returns the chunk lengths.
func cutAll(data []byte, key [32]byte, p Params) []int {
	g := NewGear(key)
	var lens []int
	for len(data) > 0 {
		n := Cut(data, g, p)
		lens = append(lens, n)
		data = data[n:]
	}
	return lens
}

// chunks reads r to the end with a Chunker and returns copies of the chunks.
func chunks(t testing.TB, r io.Reader, key [32]byte, p Params) [][]byte {
	t.Helper()
	return drain(t, New(r, key, p))
}

// drain returns copies of the chunks c yields up to io.EOF.
func drain(t testing.TB, c *Chunker) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		b, err := c.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		out = append(out, bytes.Clone(b))
	}
}

// lengths returns the lengths of cs.
func lengths(cs [][]byte) []int {
	lens := make([]int, len(cs))
	for i, c := range cs {
		lens[i] = len(c)
	}
	return lens
}

// ids returns the chunk ids of cs under the id key testKey(1).
func ids(cs [][]byte) [][32]byte {
	k := NewIDKey(testKey(1))
	out := make([][32]byte, len(cs))
	for i, c := range cs {
		out[i] = k.Sum(c)
	}
	return out
}

// oddReader returns reads of awkward sizes, cycling through sizes.
type oddReader struct {
	r     io.Reader
	sizes []int
	n     int
}

func (o *oddReader) Read(p []byte) (int, error) {
	size := o.sizes[o.n%len(o.sizes)]
	o.n++
	return o.r.Read(p[:min(len(p), size)])
}

// zeroReader returns no bytes and no error, forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }
