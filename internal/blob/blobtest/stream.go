package blobtest

import (
	"bytes"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// countNames returns how many objects a store lists.
func countNames(t *testing.T, s blob.Store) int {
	n := 0
	if err := s.List(t.Context(), "", func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// writeStream writes data in uneven pieces to a new object writer.
func writeStream(t *testing.T, s blob.Store, data []byte) blob.ObjectWriter {
	t.Helper()
	w, err := blob.Create(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	for rest := data; len(rest) > 0; {
		k := min(len(rest), 1+len(rest)/3)
		if _, err := w.Write(rest[:k]); err != nil {
			t.Fatal(err)
		}
		rest = rest[k:]
	}
	if w.Len() != int64(len(data)) {
		t.Fatalf("Len = %d, wrote %d", w.Len(), len(data))
	}
	return w
}

func testStream(t *testing.T, s blob.Store) {
	data := randBytes(40, 3<<20+17)
	w := writeStream(t, s, data)
	if countNames(t, s) != 0 {
		t.Fatal("an object is visible before Commit")
	}
	name := hashName("data/ab", data)
	if w.Sum() != mustSum(t, name) {
		t.Fatal("Sum differs from the SHA-256 of the bytes written")
	}
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	w.Abort() // safe after Commit
	if got := mustGet(t, s, name, 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("streamed object reads back %d bytes, want %d", len(got), len(data))
	}
}

func mustSum(t *testing.T, name string) [32]byte {
	sum, ok := blob.Sum(name)
	if !ok {
		t.Fatalf("%s promises no hash", name)
	}
	return sum
}

func testStreamWrongHash(t *testing.T, s blob.Store) {
	w := writeStream(t, s, []byte("some bytes"))
	name := hashName("data/ab", []byte("other bytes"))
	if err := w.Commit(t.Context(), name); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("Commit under another hash: %v, want Corrupt", err)
	}
	if countNames(t, s) != 0 {
		t.Fatal("a refused object is visible")
	}
}

func testStreamAbort(t *testing.T, s blob.Store) {
	w := writeStream(t, s, []byte("discard me"))
	w.Abort()
	if countNames(t, s) != 0 {
		t.Fatal("an aborted object is visible")
	}
}

// A stream through blob.Sub lands under the sub-store's prefix.
func testStreamSub(t *testing.T, s blob.Store) {
	data := []byte("in a sub-store")
	w := writeStream(t, blob.Sub(s, "vol/"), data)
	name := hashName("idx", data)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "vol/"+name, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("sub-store stream landed elsewhere")
	}
}

// blob.ReadAt reads ranges into the caller's buffer, through the store's
// own ReadAt if it has one, and stops short at the end of the object.
func testReadAt(t *testing.T, s blob.Store) {
	data := randBytes(41, 100000)
	mustPut(t, s, "r/obj", data)
	for _, tc := range []struct {
		store      blob.Store
		name       string
		off, n     int
		wantN, end int
	}{
		{s, "r/obj", 0, 10, 10, 10},
		{s, "r/obj", 99990, 10, 10, 100000},
		{s, "r/obj", 99995, 10, 5, 100000},
		{s, "r/obj", 500, 60000, 60000, 60500},
		{blob.Sub(s, "r/"), "obj", 1000, 100, 100, 1100},
	} {
		p := make([]byte, tc.n)
		n, err := blob.ReadAt(t.Context(), tc.store, tc.name, p, int64(tc.off))
		if n != tc.wantN || (err != nil && n == tc.n) {
			t.Fatalf("ReadAt(%s, off %d, %d bytes) = %d, %v; want %d", tc.name, tc.off, tc.n, n, err, tc.wantN)
		}
		if !bytes.Equal(p[:n], data[tc.off:tc.end]) {
			t.Fatalf("ReadAt(%s, off %d) read the wrong bytes", tc.name, tc.off)
		}
	}
	if _, err := blob.ReadAt(t.Context(), s, "r/missing", make([]byte, 4), 0); !errors.Is(err, errors.NotExist) {
		t.Fatalf("ReadAt of a missing object: %v, want NotExist", err)
	}
}
