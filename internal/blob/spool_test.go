package blob_test

import (
	"crypto/sha256"
	"encoding/hex"
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
