package volume

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dvpc/dvpc/internal/blob/mem"
)

// ReadAt returns exactly the bytes of any range, across chunk boundaries,
// with io.EOF at the end of the file.
func TestReadAt(t *testing.T) {
	v := NewTest(t, mem.New(), "pc", nil)
	data := make([]byte, 5<<20+777)
	rand.NewChaCha8([32]byte{9}).Read(data)
	local := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := v.PutFile(ctx, local, "/f"); err != nil {
		t.Fatal(err)
	}
	n := v.Tree().Lookup("/f")
	if len(n.Chunks) < 2 {
		t.Fatalf("want a file of several chunks, got %d", len(n.Chunks))
	}
	r := rand.New(rand.NewPCG(1, 2))
	offs := []int64{0, 1, int64(n.Chunks[0].Size) - 1, int64(n.Chunks[0].Size), int64(len(data)) - 1}
	for range 20 {
		offs = append(offs, r.Int64N(int64(len(data))))
	}
	for _, off := range offs {
		for _, size := range []int{1, 100, 64 << 10, 3 << 20} {
			p := make([]byte, size)
			k, err := v.ReadAt(ctx, n, p, off)
			want := data[off:min(off+int64(size), int64(len(data)))]
			if !bytes.Equal(p[:k], want) {
				t.Fatalf("ReadAt(%d, %d): %d bytes differ", off, size, k)
			}
			if short := k < size; short != (err == io.EOF) || err != nil && err != io.EOF {
				t.Fatalf("ReadAt(%d, %d): %d bytes, err %v", off, size, k, err)
			}
		}
	}
	if k, err := v.ReadAt(ctx, n, make([]byte, 10), int64(len(data))); k != 0 || err != io.EOF {
		t.Fatalf("ReadAt at the end: %d, %v", k, err)
	}
}
