package dir

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many of the pages of the file at p are in the
// page cache, and how many it has.
func resident(t *testing.T, p string) (in, all int) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatal(e)
	}
	for _, v := range vec {
		if v&1 != 0 {
			in++
		}
	}
	return in, len(vec)
}

// An object streamed into a store made with DropWritten leaves the page
// cache once on disk; without it, it stays.
func TestDropWritten(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	name := "data/" + hex.EncodeToString(sum[:])
	write := func(s *Store) string {
		w, err := s.Create(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(t.Context(), name); err != nil {
			t.Fatal(err)
		}
		return s.path(name)
	}
	if in, _ := resident(t, write(newTestStore(t))); in == 0 {
		t.Skip("this file system keeps no written pages in the page cache")
	}
	if in, all := resident(t, write(newTestStore(t).DropWritten())); in != 0 {
		t.Errorf("%d of the %d pages of an object written with DropWritten are in the page cache", in, all)
	}
}
