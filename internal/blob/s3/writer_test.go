package s3

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// A stream larger than blob.SpillSize goes through a temporary file, which is
// gone after Commit and after Abort.
func TestStreamSpills(t *testing.T) {
	srv := startServer(t)
	s := srv.open(t, "spill")
	tmp := t.TempDir()
	s.cfg.TempDir = tmp
	data := bytes.Repeat([]byte("0123456789abcdef"), (blob.SpillSize+3<<20)/16)
	sum := sha256.Sum256(data)
	name := "packs/" + hex.EncodeToString(sum[:])

	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; rest = rest[min(len(rest), 1<<20+3):] {
		if _, err := w.Write(rest[:min(len(rest), 1<<20+3)]); err != nil {
			t.Fatal(err)
		}
	}
	if n := countFiles(t, tmp); n != 1 {
		t.Fatalf("%d temporary files while writing %d bytes, want 1", n, len(data))
	}
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, tmp); n != 0 {
		t.Fatalf("%d temporary files left after Commit", n)
	}
	got, err := s.Get(t.Context(), name, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get of the streamed object: %d bytes, %v", len(got), err)
	}

	w, _ = s.Create(t.Context())
	w.Write(data)
	w.Abort()
	if n := countFiles(t, tmp); n != 0 {
		t.Fatalf("%d temporary files left after Abort", n)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
}

func countFiles(t *testing.T, dir string) int {
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func TestReadAtEnd(t *testing.T) {
	srv := startServer(t)
	s := srv.open(t, "r")
	if err := s.Put(t.Context(), "obj", []byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{10, 11, 1 << 40} {
		p := make([]byte, 4)
		if n, err := s.ReadAt(t.Context(), "obj", p, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt(off %d) past the end = %d, %v; want 0, EOF", off, n, err)
		}
	}
	if n, err := s.ReadAt(t.Context(), "obj", nil, 3); n != 0 || err != nil {
		t.Errorf("ReadAt of nothing = %d, %v", n, err)
	}
	if _, err := s.ReadAt(t.Context(), "obj", make([]byte, 1), -1); !errors.Is(err, errors.Invalid) {
		t.Errorf("ReadAt at a negative offset: %v, want Invalid", err)
	}
}
