package chunk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"

	"github.com/zeebo/blake3"
)

// The test vectors of doc.go. Any change to the algorithm fails these tests:
// a changed vector is a new format version, not a test to update.

// vectorInput returns the first n bytes of the BLAKE3 extendable output
// (unkeyed) of the ASCII message "dvpc chunk test vector".
func vectorInput(n int) []byte {
	h := blake3.New()
	h.WriteString("dvpc chunk test vector")
	b := make([]byte, n)
	h.Digest().Read(b)
	return b
}

// vector cuts input with gear key testKey(0) and returns the chunk lengths
// and the hex SHA-256 of the concatenated chunk ids under id key testKey(1).
func vector(t *testing.T, input []byte, p Params) ([]int, string) {
	cs := chunks(t, bytes.NewReader(input), testKey(0), p)
	sum := sha256.New()
	for _, id := range ids(cs) {
		sum.Write(id[:])
	}
	return lengths(cs), hex.EncodeToString(sum.Sum(nil))
}

func TestVectorGear(t *testing.T) {
	g := NewGear(testKey(0))
	got := fmt.Sprintf("%016x %016x %016x", g[0], g[1], g[255])
	t.Logf("G[0] G[1] G[255] = %s", got)
	if want := "4530adb5ed9a7ecd 97535d3b91097651 94c2f4e4c85c030e"; got != want {
		t.Errorf("gear table of key 00..1f: %s, want %s", got, want)
	}
}

func TestVectorDefault(t *testing.T) {
	lens, sum := vector(t, vectorInput(16<<20), DefaultParams())
	t.Logf("lengths %v", lens)
	t.Logf("SHA-256 of ids %s", sum)
	want := []int{2044155, 748807, 1221032, 1036258, 1365105, 1131928, 1091544,
		1289266, 1075350, 1361276, 1453315, 1608565, 1277945, 72670}
	if !slices.Equal(lens, want) {
		t.Errorf("lengths %v, want %v", lens, want)
	}
	if want := "ba7a2bb3b93eec26b824d299f7474d4166731ebd9c2d5362f4dd6f06800cf017"; sum != want {
		t.Errorf("SHA-256 of ids %s, want %s", sum, want)
	}
}

func TestVectorSmall(t *testing.T) {
	lens, sum := vector(t, vectorInput(1<<20), smallParams)
	t.Logf("%d chunks, first %v", len(lens), lens[:4])
	t.Logf("SHA-256 of ids %s", sum)
	if want := []int{9122, 2108, 8662, 4454}; len(lens) != 115 || !slices.Equal(lens[:4], want) {
		t.Errorf("%d chunks beginning %v, want 115 beginning %v", len(lens), lens[:4], want)
	}
	if want := "42468ec36a559207adf9910a10173cc84ec7ad201e1bb84a6d3aa3ba245e6151"; sum != want {
		t.Errorf("SHA-256 of ids %s, want %s", sum, want)
	}
}

func TestVectorMasks(t *testing.T) {
	strict, loose := DefaultParams().masks()
	if strict != 0xfffffc0000000000 || loose != 0xffffc00000000000 {
		t.Errorf("default masks %#x, %#x", strict, loose)
	}
}
