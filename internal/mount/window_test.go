package mount

import (
	"math/rand/v2"
	"testing"

	"github.com/dvpc/dvpc/internal/journal"
)

// A file's windows are runs of whole chunks: each starts where a chunk
// starts, holds at most window bytes unless it is one larger chunk, and
// is as full as the next chunk allows.
func TestWindowStarts(t *testing.T) {
	if got := windowStarts(nil); len(got) != 1 || got[0] != 0 {
		t.Fatalf("no chunks: %v", got)
	}
	r := rand.New(rand.NewPCG(4, 5))
	for range 200 {
		chunks := make([]journal.ChunkRef, r.IntN(40)+1)
		for i := range chunks {
			chunks[i].Size = uint32(r.IntN(3<<20) + 1)
			if r.IntN(20) == 0 {
				chunks[i].Size = window + uint32(r.IntN(1<<20)) // larger than a window
			}
		}
		starts := windowStarts(chunks)
		var off int64
		k := 0
		var run int64
		for i, c := range chunks {
			if k+1 < len(starts) && starts[k+1] == off {
				// A new window: the chunk would not have fit the last.
				if run+int64(c.Size) <= window {
					t.Fatalf("window %d ends at chunk %d though it fits", k, i)
				}
				k, run = k+1, 0
			} else if k+1 < len(starts) && starts[k+1] < off {
				t.Fatalf("window %d starts inside a chunk", k+1)
			}
			if run > 0 && run+int64(c.Size) > window {
				t.Fatalf("window %d holds more than a window", k)
			}
			run += int64(c.Size)
			off += int64(c.Size)
		}
		if k != len(starts)-1 {
			t.Fatalf("%d windows, %d used", len(starts), k+1)
		}
	}
}
