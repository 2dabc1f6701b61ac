package blobtest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
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

// A store whose objects are files (blob.FileOpener) opens them, through a
// sub-store too; a writer that reads from a file (io.ReaderFrom: the
// kernel may copy the bytes) hashes what it took, after what was written
// before it, and refuses a name its bytes do not match.
func testFileCopy(t *testing.T, s blob.Store) {
	data := randBytes(42, 1<<20+4097)
	mustPut(t, s, "f/obj", data)
	f, ok, err := blob.OpenFile(t.Context(), blob.Sub(s, "f/"), "obj")
	if !ok {
		if _, isOpener := s.(blob.FileOpener); isOpener {
			t.Fatal("OpenFile through a sub-store: not a file, but the store opens files")
		}
		if f != nil || err != nil {
			t.Fatalf("OpenFile of a store without files = %v, %v; want nothing", f, err)
		}
		f = tempFile(t, data)
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := blob.OpenFile(t.Context(), s, "f/missing"); ok && !errors.Is(err, errors.NotExist) {
		t.Fatalf("OpenFile of a missing object: %v, want NotExist", err)
	}
	head, tail := []byte("written first, "), []byte(", and a tail")
	want := slices.Concat(head, data, tail)
	takesFiles := false
	for i, st := range []blob.Store{s, blob.Sub(s, "vol/")} {
		// copyTo writes head, then the file, then tail (not from a file).
		copyTo := func() blob.ObjectWriter {
			t.Helper()
			w, err := blob.Create(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			rf, ok := w.(io.ReaderFrom)
			if !ok {
				w.Abort()
				return nil
			}
			if _, err := w.Write(head); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if n, err := rf.ReadFrom(f); err != nil || n != int64(len(data)) {
				t.Fatalf("ReadFrom(file) = %d, %v; want %d", n, err, len(data))
			}
			if _, err := rf.ReadFrom(bytes.NewReader(tail)); err != nil {
				t.Fatalf("ReadFrom(not a file): %v", err)
			}
			if w.Len() != int64(len(want)) {
				t.Fatalf("Len = %d after the copies, want %d", w.Len(), len(want))
			}
			return w
		}
		w := copyTo()
		if i == 0 {
			takesFiles = w != nil
		} else if takesFiles != (w != nil) {
			t.Fatalf("a sub-store's writer takes files: %v, the store's: %v", w != nil, takesFiles)
		}
		if w == nil {
			continue // the store's writers take no file
		}
		if err := w.Commit(t.Context(), hashName("refused", data)); !errors.Is(err, errors.Corrupt) {
			t.Fatalf("Commit under the hash of the file alone: %v, want Corrupt", err)
		}
		name := hashName("copied", want)
		if err := copyTo().Commit(t.Context(), name); err != nil {
			t.Fatalf("Commit of the copy: %v", err)
		}
		if got := mustGet(t, st, name, 0, -1); !bytes.Equal(got, want) {
			t.Fatalf("the copy reads back %d bytes, want %d", len(got), len(want))
		}
		if _, err := st.Stat(t.Context(), hashName("refused", data)); !errors.Is(err, errors.NotExist) {
			t.Fatalf("Stat of the refused copy: %v, want NotExist", err)
		}
	}
}

// tempFile returns a file holding data, open for reading.
func tempFile(t *testing.T, data []byte) *os.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
