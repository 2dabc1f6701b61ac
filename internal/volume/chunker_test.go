package volume

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/journal"
)

// The one chunker an import's worker cuts all its files with cuts each as a
// new one would, whatever the file before was: a large one that grew the
// buffer, or one whose read failed halfway.
func TestReusedChunkerCutsAsNew(t *testing.T) {
	ctx := context.Background()
	tv := NewTest(t, mem.New(), "pc", nil)
	w := tv.NewWriter(ctx)
	defer w.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	fresh := func(data []byte) []journal.ChunkRef {
		var refs []journal.ChunkRef
		fc := chunk.New(bytes.NewReader(data), tv.keys.Gear, tv.cfg.Chunk)
		for {
			b, err := fc.Next()
			if err == io.EOF {
				return refs
			}
			refs = append(refs, journal.ChunkRef{ID: tv.codec.ID(b), Size: uint32(len(b))})
		}
	}
	boom := errors.New("boom")
	files := []struct {
		data []byte
		fail bool
	}{
		{random(5 << 20), false},
		{random(700 << 10), true},
		{random(3000), false},
		{random(3 << 20), false},
		{random(10), false},
	}
	c := tv.newChunker(nil)
	for round := range 3 {
		for i, f := range files {
			var r io.Reader = bytes.NewReader(f.data)
			if f.fail {
				r = io.MultiReader(r, iotest.ErrReader(boom))
			}
			c.Reset(r)
			refs, size, err := tv.storeStream(ctx, w, c, new(Progress))
			if f.fail {
				if !errors.Is(err, boom) {
					t.Fatalf("round %d, file %d: err %v, want the read's", round, i, err)
				}
				continue
			}
			if err != nil || size != uint64(len(f.data)) {
				t.Fatalf("round %d, file %d: size %d, %v", round, i, size, err)
			}
			if want := fresh(f.data); !slices.Equal(refs, want) {
				t.Fatalf("round %d, file %d: chunks %v, a new chunker cuts %v", round, i, refs, want)
			}
		}
	}
}
