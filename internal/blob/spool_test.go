package blob_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
)

// A spool whose owner hashes (Unhash) checks the owner's sum against the
// name, and refuses a name that promises a hash when given none; one
// that hashes also checks the owner's sum against its own.
func TestSpoolSums(t *testing.T) {
	data := make([]byte, blob.SpillSize+100) // past memory, into a file
	for i := range data {
		data[i] = byte(i)
	}
	sum := sha256.Sum256(data)
	name := "data/" + hex.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))
	const op errors.Op = "test"
	spool := func(unhash bool) *blob.Spool {
		s := blob.NewSpool(t.TempDir(), "spool-*")
		if unhash {
			s.Unhash()
		}
		if _, err := s.Write(data); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Discard)
		return s
	}
	for _, unhash := range []bool{false, true} {
		if _, err := spool(unhash).CheckSummed(op, name, sum); err != nil {
			t.Errorf("unhash %v: CheckSummed with the right sum: %v", unhash, err)
		}
		if _, err := spool(unhash).CheckSummed(op, name, other); !errors.Is(err, errors.Corrupt) {
			t.Errorf("unhash %v: CheckSummed with another sum = %v, want corrupt", unhash, err)
		}
	}
	if _, err := spool(false).Check(op, name); err != nil {
		t.Errorf("Check of a hashing spool: %v", err)
	}
	if _, err := spool(true).Check(op, name); !errors.Is(err, errors.Corrupt) {
		t.Errorf("Check of an unhashed spool under a hash name = %v, want corrupt (it knows no sum)", err)
	}
	// A spool that hashes refuses an owner's sum that is not its own,
	// even under a name that promises nothing.
	if _, err := spool(false).CheckSummed(op, "journal/seg-1", other); !errors.Is(err, errors.Corrupt) {
		t.Errorf("CheckSummed of a hashing spool with a wrong sum = %v, want corrupt", err)
	}
}

// Through Sub, a writer that cannot leave the hash to its caller still
// takes CommitSum: the caller's sum is checked against its own.
func TestSubCommitSumOfHashingWriter(t *testing.T) {
	ctx := t.Context()
	st := blob.Sub(mem.New(), "vol/")
	data := []byte("hashed by the writer")
	sum := sha256.Sum256(data)
	name := "data/" + hex.EncodeToString(sum[:])
	for _, c := range []struct {
		sum  [32]byte
		want error
	}{{sha256.Sum256([]byte("other")), errors.E(errors.Corrupt)}, {sum, nil}} {
		w, err := blob.Create(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		if w.(blob.Unhasher).Unhash() {
			t.Fatal("Unhash through Sub of a writer that always hashes = true")
		}
		w.Write(data)
		err = w.(blob.Unhasher).CommitSum(ctx, name, c.sum)
		if (c.want == nil) != (err == nil) || (err != nil && !errors.Is(err, errors.Corrupt)) {
			t.Fatalf("CommitSum with sum %x = %v, want %v", c.sum[:4], err, c.want)
		}
	}
	if got, err := st.Get(ctx, name, 0, -1); err != nil || string(got) != string(data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

// A spool's buffers are reused by the next, except one that Body handed
// out: a reader of an object's body kept in memory (here past the size
// from which the buffer is pooled), which an HTTP transport may still hold
// after its request, keeps its bytes whatever spools come next; and a
// spool that moved to its file keeps every byte.
func TestSpoolReuseKeepsLentBodies(t *testing.T) {
	small := bytes.Repeat([]byte("an object kept in memory "), 10000)
	a := blob.NewSpool(t.TempDir(), "spool-*")
	a.Write(small)
	body, err := a.Body()
	if err != nil {
		t.Fatal(err)
	}
	a.Discard()
	for i := range 4 {
		b := blob.NewSpool(t.TempDir(), "spool-*")
		other := bytes.Repeat([]byte{byte('0' + i)}, len(small))
		b.Write(other)
		if got, _ := b.Body(); got == nil {
			t.Fatal("no body")
		}
		b.Discard()
		big := blob.NewSpool(t.TempDir(), "spool-*")
		for range 5 {
			big.Write(bytes.Repeat([]byte{byte('A' + i)}, blob.SpillSize/4+1))
		}
		bb, err := big.Body()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(bb)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte('A' + i)}, 5*(blob.SpillSize/4+1))) {
			t.Fatalf("a spool past blob.SpillSize lost bytes: %d read, %v", len(got), err)
		}
		big.Discard()
	}
	got := make([]byte, len(small))
	if _, err := body.ReadAt(got, 0); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("a lent body changed after its spool was discarded: %q", got[:20])
	}
}
