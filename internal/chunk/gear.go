package chunk

import (
	"encoding/binary"

	"github.com/zeebo/blake3"
)

// gearContext is the message the gear key is applied to; it names the
// table's purpose and version so the same key can never yield it elsewhere.
const gearContext = "dvpc chunk gear table v1"

// Gear is the table of the gear rolling hash: one 64-bit value per byte
// value. Secret: whoever holds it can predict cut points.
type Gear [256]uint64

// NewGear derives the gear table from a volume's gear key: the first 2048
// bytes of the BLAKE3 extendable output, in keyed mode under key, of the
// ASCII message "dvpc chunk gear table v1", read as 256 little-endian
// uint64s in order.
func NewGear(key [32]byte) *Gear {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		panic("chunk: " + err.Error()) // unreachable: the key is 32 bytes
	}
	_, _ = h.WriteString(gearContext)
	var out [len(Gear{}) * 8]byte
	_, _ = h.Digest().Read(out[:])
	g := new(Gear)
	for i := range g {
		g[i] = binary.LittleEndian.Uint64(out[8*i:])
	}
	return g
}

// Cut returns the length of the first chunk of data: the first cut point
// after p.Min, at most p.Max, or len(data) when data ends before both.
// Callers chunking a stream must pass at least p.Max bytes unless the stream
// ends within them, or the cut is not the one the whole stream would get.
// p must be valid (see Params.Validate).
func Cut(data []byte, gear *Gear, p Params) int {
	n := len(data)
	if n <= int(p.Min) {
		return n
	}
	n = min(n, int(p.Max))
	normal := min(n, int(p.Avg))
	strict, loose := p.masks()
	i, fp := scan(data[p.Min:normal], gear, strict, 0)
	if i >= 0 {
		return int(p.Min) + i + 1
	}
	if i, _ = scan(data[normal:n], gear, loose, fp); i >= 0 {
		return normal + i + 1
	}
	return n
}

// scan rolls the gear hash fp over b and returns the index of the first
// byte after which fp&mask is zero, or -1, and the hash after the last byte
// rolled. Chunking spends its time here.
//
// The loop takes four bytes a turn and computes the four hashes from the
// hash before them two bytes at a time, fp·4 + (g0·2 + g1), so the chain
// from one turn to the next is two shift-adds instead of eight (the compiler
// makes each one LEA). The result is bit for bit that of the plain loop:
// for each byte, fp = fp<<1 + g[byte], then test.
func scan(b []byte, g *Gear, mask, fp uint64) (int, uint64) {
	_ = g[255] // one nil check outside the loop
	i := 0
	for ; i < len(b)-3; i += 4 {
		g0, g1, g2, g3 := g[b[i]], g[b[i+1]], g[b[i+2]], g[b[i+3]]
		f0 := fp<<1 + g0
		f1 := fp<<2 + (g0<<1 + g1)
		f2 := f1<<1 + g2
		f3 := f1<<2 + (g2<<1 + g3)
		switch {
		case f0&mask == 0:
			return i, f0
		case f1&mask == 0:
			return i + 1, f1
		case f2&mask == 0:
			return i + 2, f2
		case f3&mask == 0:
			return i + 3, f3
		}
		fp = f3
	}
	for ; i < len(b); i++ {
		fp = fp<<1 + g[b[i]]
		if fp&mask == 0 {
			return i, fp
		}
	}
	return -1, fp
}
