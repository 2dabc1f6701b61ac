package blobtest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

func testRoundTrip(t *testing.T, s blob.Store) {
	for i, n := range []int{1, 100, 4096, 1 << 16, 1<<20 + 7} {
		data := randBytes(uint64(i), n)
		name := fmt.Sprintf("rt/obj-%d", i)
		mustPut(t, s, name, data)
		checkGet(t, s, name, data)
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	for _, name := range []string{"empty", hashName("data", nil)} {
		mustPut(t, s, name, nil)
		got := mustGet(t, s, name, 0, -1)
		if len(got) != 0 {
			t.Errorf("Get(%q) = %d bytes, want 0", name, len(got))
		}
		in, err := s.Stat(t.Context(), name)
		if err != nil || in.Size != 0 {
			t.Errorf("Stat(%q) = %+v, %v; want size 0", name, in, err)
		}
	}
}

func testLarge(t *testing.T, s blob.Store) {
	data := randBytes(20, 20<<20)
	name := hashName("packs", data)
	mustPut(t, s, name, data)
	checkGet(t, s, name, data)
	mid := mustGet(t, s, name, 10<<20, 1<<20)
	if !bytes.Equal(mid, data[10<<20:11<<20]) {
		t.Errorf("Get of 1 MiB from the middle of 20 MiB differs")
	}
}

func testRanges(t *testing.T, s blob.Store) {
	data := randBytes(1, 1000)
	mustPut(t, s, "r", data)
	tests := []struct {
		off, length int64
		want        []byte
	}{
		{0, 10, data[:10]},                 // start
		{100, 50, data[100:150]},           // middle
		{990, 100, data[990:]},             // runs past the end
		{500, -1, data[500:]},              // to the end
		{0, -1, data},                      // all
		{0, 1000, data},                    // exactly all
		{123, 0, nil},                      // zero length
		{1000, -1, nil},                    // at the end
		{1000, 10, nil},                    // at the end, with a length
		{5000, 10, nil},                    // starts past the end
		{999, 1, data[999:]},               // last byte
		{0, 1 << 40, data},                 // huge length
		{1, 998, data[1:999]},              // all but the ends
		{500, 1<<63 - 1, data[500:]},       // length that overflows off+length
		{1<<63 - 1, 1<<63 - 1, nil},        // offset far past the end
		{999, 1<<63 - 1 - 998, data[999:]}, // off+length is the largest int64
	}
	for _, tt := range tests {
		got := mustGet(t, s, "r", tt.off, tt.length)
		if !bytes.Equal(got, tt.want) {
			t.Errorf("Get(r, %d, %d) = %d bytes, want %d", tt.off, tt.length, len(got), len(tt.want))
		}
	}
	_, err := s.Get(t.Context(), "r", -1, 10)
	checkKind(t, "Get with negative offset", err, errors.Invalid)
}

func testStat(t *testing.T, s blob.Store) {
	before := time.Now().Add(-time.Hour)
	mustPut(t, s, "dir/stat", make([]byte, 1234))
	in, err := s.Stat(t.Context(), "dir/stat")
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "dir/stat" || in.Size != 1234 {
		t.Errorf("Stat = %+v, want name dir/stat, size 1234", in)
	}
	if in.ModTime.Before(before) || in.ModTime.After(time.Now().Add(time.Hour)) {
		t.Errorf("Stat ModTime = %v, want about now", in.ModTime)
	}
}

func testMissing(t *testing.T, s blob.Store) {
	mustPut(t, s, "a/b/present", []byte("x"))
	for _, name := range []string{"missing", "a/missing", "a/b/present/below", "a/b", "a"} {
		_, err := s.Get(t.Context(), name, 0, -1)
		checkKind(t, "Get("+name+")", err, errors.NotExist)
		_, err = s.Stat(t.Context(), name)
		checkKind(t, "Stat("+name+")", err, errors.NotExist)
	}
}

func testPutAgain(t *testing.T, s blob.Store) {
	data := []byte("same bytes")
	mustPut(t, s, "again", data)
	mustPut(t, s, "again", data)
	checkGet(t, s, "again", data)
	// Same size, other bytes: a store may refuse, but must not keep the
	// old bytes and report success.
	other := []byte("SAME BYTES")
	if err := s.Put(t.Context(), "again", other); err == nil {
		checkGet(t, s, "again", other)
	}
}

func testCopies(t *testing.T, s blob.Store) {
	data := []byte("original")
	mustPut(t, s, "copy", data)
	data[0] = 'X'
	checkGet(t, s, "copy", []byte("original"))
	got := mustGet(t, s, "copy", 0, -1)
	got[0] = 'Y'
	checkGet(t, s, "copy", []byte("original"))
}

func testDelete(t *testing.T, s blob.Store) {
	mustPut(t, s, "d/one", []byte("1"))
	mustPut(t, s, "d/two", []byte("2"))
	for range 2 {
		if err := s.Delete(t.Context(), "d/one"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	_, err := s.Get(t.Context(), "d/one", 0, -1)
	checkKind(t, "Get after Delete", err, errors.NotExist)
	if err := s.Delete(t.Context(), "never/was"); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
	checkGet(t, s, "d/two", []byte("2"))
	if got := list(t, s, ""); len(got) != 1 || got[0] != "d/two" {
		t.Errorf("List after Delete = %q, want [d/two]", got)
	}
	mustPut(t, s, "d/one", []byte("back"))
	checkGet(t, s, "d/one", []byte("back"))
}
