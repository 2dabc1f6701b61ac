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
	"github.com/dvpc/dvpc/internal/errors"
)

// putRandom puts size random bytes (from seed) into v as /f, and returns
// its node and the bytes.
func putRandom(t *testing.T, v *TestVolume, size int, seed byte) (*Node, []byte) {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{seed}).Read(data)
	local := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.PutFile(context.Background(), local, "/f"); err != nil {
		t.Fatal(err)
	}
	return v.Tree().Lookup("/f"), data
}

// ReadAt returns exactly the bytes of any range, across chunk boundaries,
// with io.EOF at the end of the file.
func TestReadAt(t *testing.T) {
	v := NewTest(t, mem.New(), "pc", nil)
	ctx := context.Background()
	n, data := putRandom(t, v, 5<<20+777, 9)
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

// writes records each Write it gets, copied, and fails the one numbered
// failAt (from 1) if set.
type writes struct {
	got    [][]byte
	failAt int
}

func (w *writes) Write(p []byte) (int, error) {
	if len(w.got)+1 == w.failAt {
		return 0, io.ErrClosedPipe
	}
	w.got = append(w.got, bytes.Clone(p))
	return len(p), nil
}

// WriteTo of a file of several spans writes them in order, each whole,
// while it reads the next; a writer that fails stops it with an IO error
// after what was written.
func TestWriteToSpans(t *testing.T) {
	v := NewTest(t, mem.New(), "pc", nil)
	ctx := context.Background()
	n, data := putRandom(t, v, 21<<20+333, 10)
	for range 2 { // the second time with the buffers the first left in the pool
		w := &writes{}
		if k, err := v.WriteTo(ctx, n, w); err != nil || k != int64(len(data)) {
			t.Fatalf("WriteTo = %d, %v", k, err)
		}
		if len(w.got) < 3 {
			t.Fatalf("%d writes: want a file of several spans", len(w.got))
		}
		if !bytes.Equal(bytes.Join(w.got, nil), data) {
			t.Fatal("WriteTo wrote other bytes than the file's")
		}
	}
	w := &writes{failAt: 2}
	k, err := v.WriteTo(ctx, n, w)
	if !errors.Is(err, errors.IO) || k != int64(len(w.got[0])) {
		t.Fatalf("WriteTo into a writer that fails its second write = %d, %v; want %d and an IO error", k, err, len(w.got[0]))
	}
}
