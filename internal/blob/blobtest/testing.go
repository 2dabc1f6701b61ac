// Package blobtest is the conformance suite that every kind of mirror
// (dir, mem, and later http and s3) must pass, and benchmarks to compare
// them. A kind runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		blobtest.TestStore(t, func(t *testing.T) blob.Store { return newStore(t) })
//	}
//
// It owns the executable form of the contract written on blob.Store; when
// the two disagree, both change together. It imports testing, so it must
// never be imported by anything but tests.
package blobtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// TestStore runs the conformance suite. newStore must return a new, empty
// Store for each call; it is called once per subtest, and should register
// its own cleanup with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"Ranges", testRanges},
		{"Stat", testStat},
		{"Missing", testMissing},
		{"PutAgain", testPutAgain},
		{"Copies", testCopies},
		{"Delete", testDelete},
		{"List", testList},
		{"ListPrefix", testListPrefix},
		{"ListStop", testListStop},
		{"ListBadPrefix", testListBadPrefix},
		{"InvalidNames", testInvalidNames},
		{"HashWrong", testHashWrong},
		{"HashRight", testHashRight},
		{"Concurrent", testConcurrent},
		{"ConcurrentSame", testConcurrentSame},
		{"Stream", testStream},
		{"StreamWrongHash", testStreamWrongHash},
		{"StreamAbort", testStreamAbort},
		{"StreamSub", testStreamSub},
		{"ReadAt", testReadAt},
		{"FileCopy", testFileCopy},
		{"PutSection", testPutSection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// randBytes returns n bytes from a generator seeded with seed, so that a
// failing run can be repeated.
func randBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// hashName returns the content-addressed name dir/<sha256 of data>.
func hashName(dir string, data []byte) string {
	sum := sha256.Sum256(data)
	return dir + "/" + hex.EncodeToString(sum[:])
}

func mustPut(t testing.TB, s blob.Store, name string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), name, data); err != nil {
		t.Fatalf("Put(%.60q, %d bytes): %v", name, len(data), err)
	}
}

func mustGet(t testing.TB, s blob.Store, name string, off, length int64) []byte {
	t.Helper()
	b, err := s.Get(t.Context(), name, off, length)
	if err != nil {
		t.Fatalf("Get(%.60q, %d, %d): %v", name, off, length, err)
	}
	return b
}

// checkGet fails t unless name holds exactly want.
func checkGet(t testing.TB, s blob.Store, name string, want []byte) {
	t.Helper()
	got := mustGet(t, s, name, 0, -1)
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%.60q) = %d bytes %.16x..., want %d bytes %.16x...", name, len(got), got, len(want), want)
	}
}

// checkKind fails t unless err has kind k.
func checkKind(t testing.TB, what string, err error, k errors.Kind) {
	t.Helper()
	if got := errors.KindOf(err); got != k {
		t.Errorf("%s: error %v has kind %q, want %q", what, err, got, k)
	}
}

// list returns the names that List reports for prefix.
func list(t testing.TB, s blob.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.List(t.Context(), prefix, func(in blob.Info) error {
		names = append(names, in.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return names
}

// testPutSection checks blob.PutSection: the store's own, for kinds that
// upload from a section, or the fallback through Put; a section of a larger
// buffer; and a sum that is not the hash the name promises.
func testPutSection(t *testing.T, s blob.Store) {
	ctx := t.Context()
	buf := bytes.Repeat([]byte("0123456789"), 200_000)
	data := buf[1000 : 1000+1_500_000]
	sum := sha256.Sum256(data)
	name := "data/" + hex.EncodeToString(sum[:])
	body := io.NewSectionReader(bytes.NewReader(buf), 1000, int64(len(data)))
	if err := blob.PutSection(ctx, s, name, body, sum); err != nil {
		t.Fatalf("PutSection: %v", err)
	}
	got, err := s.Get(ctx, name, 0, -1)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get after PutSection: %d bytes, %v; want %d", len(got), err, len(data))
	}
	other := sha256.Sum256([]byte("other"))
	wrong := "data/" + hex.EncodeToString(other[:])
	err = blob.PutSection(ctx, s, wrong, io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))), sum)
	if !errors.Is(err, errors.Corrupt) {
		t.Fatalf("PutSection under another object's hash: %v, want Corrupt", err)
	}
	if _, err := s.Stat(ctx, wrong); !errors.Is(err, errors.NotExist) {
		t.Fatalf("after a refused PutSection, Stat: %v, want NotExist", err)
	}
}
