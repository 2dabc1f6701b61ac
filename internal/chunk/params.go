package chunk

import (
	"fmt"
	"math/bits"
)

// Limits that Params.Validate enforces.
const (
	minMin = 64       // the smallest Min: one full gear window
	maxMax = 64 << 20 // the largest Max: bounds a chunk, and the memory to hold it
)

// Params fixes the chunk size distribution of a volume. It is stored in the
// volume config: changing it changes every cut point, so chunks written
// under other Params do not dedup with the new ones.
type Params struct {
	Min uint32 // no chunk but the last of a stream is shorter
	Avg uint32 // a power of two; where the stricter mask gives way to the looser
	Max uint32 // no chunk is longer
}

// DefaultParams returns the Params of a new volume: chunks of 512 KiB to
// 2 MiB around 1 MiB. The narrow spread keeps the chunk that a change
// falls in close to the average (docs/PERFORMANCE.md).
func DefaultParams() Params {
	return Params{Min: 512 << 10, Avg: 1 << 20, Max: 2 << 20}
}

// Validate reports whether p can be used to chunk: 64 ≤ Min ≤ Avg ≤ Max ≤
// 64 MiB and Avg a power of two. New and Cut assume p is valid.
func (p Params) Validate() error {
	switch {
	case p.Min < minMin:
		return fmt.Errorf("chunk params %v: Min below %d bytes", p, minMin)
	case p.Max > maxMax:
		return fmt.Errorf("chunk params %v: Max above %d bytes", p, maxMax)
	case p.Min > p.Avg:
		return fmt.Errorf("chunk params %v: Min above Avg", p)
	case p.Avg > p.Max:
		return fmt.Errorf("chunk params %v: Avg above Max", p)
	case bits.OnesCount32(p.Avg) != 1:
		return fmt.Errorf("chunk params %v: Avg not a power of two", p)
	}
	return nil
}

// String returns the form used in messages: "min/avg/max" in bytes.
func (p Params) String() string {
	return fmt.Sprintf("%d/%d/%d", p.Min, p.Avg, p.Max)
}

// masks returns the two boundary masks of normalized chunking (level 2):
// the top log2(Avg)+2 bits below Avg, the top log2(Avg)-2 bits from Avg on.
func (p Params) masks() (strict, loose uint64) {
	b := bits.TrailingZeros32(p.Avg)
	return ^uint64(0) << (64 - (b + 2)), ^uint64(0) << (64 - (b - 2))
}
