package dir_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	stderrors "errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
)

func TestStore(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store { return newStore(t) })
}

// A store that drops what it writes from the page cache passes the same
// conformance suite.
func TestStoreDropWritten(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store { return newStore(t).DropWritten() })
}

func BenchmarkStore(b *testing.B) {
	blobtest.BenchmarkStore(b, func(b *testing.B) blob.Store { return newStore(b) })
}

func newStore(t testing.TB) *dir.Store {
	s, err := dir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOpenMissing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nope")
	_, err := dir.Open(root)
	if errors.KindOf(err) != errors.NotExist {
		t.Fatalf("Open of a missing folder: %v, want NotExist", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Open(file); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("Open of a file: %v, want NotExist", err)
	}
	if _, err := dir.Open(filepath.Join(file, "below")); errors.KindOf(err) != errors.NotExist {
		t.Fatalf("Open below a file: %v, want NotExist", err)
	}
}

func TestCreate(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b", "mirror")
	s, err := dir.Create(root)
	if err != nil {
		t.Fatal(err)
	}
	if s.Root() != root {
		t.Errorf("Root() = %q, want %q", s.Root(), root)
	}
	if _, err := dir.Create(root); err != nil {
		t.Errorf("Create of an existing folder: %v", err)
	}
}

func TestLayout(t *testing.T) {
	s := newStore(t)
	put(t, s, "a/b/c", "abc")
	got, err := os.ReadFile(filepath.Join(s.Root(), "a", "b", "c"))
	if err != nil || string(got) != "abc" {
		t.Fatalf("file a/b/c = %q, %v", got, err)
	}
}

// TestTempFilesHidden checks that a writer's leftovers are not objects,
// while an object whose name merely looks like one is.
func TestTempFilesHidden(t *testing.T) {
	s := newStore(t)
	put(t, s, "data/x", "x")
	put(t, s, "data/.tmp-real", "an object")
	leftover := filepath.Join(s.Root(), "data", ".tmp-123456~")
	write(t, leftover, "half a pack")
	write(t, filepath.Join(s.Root(), "data", "with space"), "a stranger")
	if err := os.Symlink("/nonexistent", filepath.Join(s.Root(), "data", "broken")); err != nil {
		t.Fatal(err)
	}
	names := listNames(t, s, "data/")
	if len(names) != 2 || names[0] != "data/.tmp-real" || names[1] != "data/x" {
		t.Errorf("List = %q, want [data/.tmp-real data/x]", names)
	}
}

// TestSymlinks checks that List follows symbolic links, as Get does, and
// ends even when they loop.
func TestSymlinks(t *testing.T) {
	s := newStore(t)
	other := t.TempDir()
	write(t, filepath.Join(other, "p1"), "pack one")
	symlink(t, other, filepath.Join(s.Root(), "packs"))
	symlink(t, filepath.Join(other, "p1"), filepath.Join(s.Root(), "single"))
	if names := listNames(t, s, ""); len(names) != 2 || names[0] != "packs/p1" || names[1] != "single" {
		t.Errorf("List = %q, want [packs/p1 single]", names)
	}
	in, err := s.Stat(t.Context(), "single")
	if err != nil || in.Size != int64(len("pack one")) {
		t.Errorf("Stat(single) = %+v, %v", in, err)
	}
	symlink(t, s.Root(), filepath.Join(s.Root(), "loop"))
	if names := listNames(t, s, "loop/loop/"); len(names) == 0 {
		t.Errorf("List through a loop found nothing")
	}
	if _, err := s.Sweep(0); err != nil {
		t.Errorf("Sweep with a loop: %v", err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
}

// TestPutRepairs checks that putting the right bytes over a damaged file
// of the same size repairs it, rather than being skipped as a repeat.
func TestPutRepairs(t *testing.T) {
	s := newStore(t)
	data := []byte("content-addressed bytes")
	name := hashNamed(data)
	put(t, s, name, string(data))
	path := filepath.Join(s.Root(), filepath.FromSlash(name))
	write(t, path, "CONTENT-ADDRESSED BYTES")
	put(t, s, name, string(data))
	if got, _ := os.ReadFile(path); string(got) != string(data) {
		t.Errorf("after Put over a damaged file, file = %q, want %q", got, data)
	}
}

func TestNameCollision(t *testing.T) {
	s := newStore(t)
	put(t, s, "a/b", "x")
	for _, name := range []string{"a/b/c", "a"} {
		err := s.Put(t.Context(), name, []byte("y"))
		if errors.KindOf(err) != errors.Invalid {
			t.Errorf("Put(%s) over a collision: %v, want Invalid", name, err)
		}
	}
	if err := s.Delete(t.Context(), "a"); err != nil {
		t.Errorf("Delete of a folder: %v, want nil", err)
	}
	if names := listNames(t, s, ""); len(names) != 1 {
		t.Errorf("List = %q, want [a/b]", names)
	}
}

func TestCancelled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, "x", nil); !stderrors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v", err)
	}
	if err := s.List(ctx, "", func(blob.Info) error { return nil }); !stderrors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context: %v", err)
	}
}

func put(t *testing.T, s *dir.Store, name, data string) {
	t.Helper()
	if err := s.Put(t.Context(), name, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func listNames(t *testing.T, s *dir.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.List(t.Context(), prefix, func(in blob.Info) error {
		names = append(names, in.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func hashNamed(data []byte) string {
	sum := sha256.Sum256(data)
	return "data/" + hex.EncodeToString(sum[:])
}

// A long read reports progress as it goes, a piece at a time, so that a
// mirror set does not take a folder busy reading for a silent one.
func TestReadAtReportsProgress(t *testing.T) {
	s := newStore(t)
	data := make([]byte, 5<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	name := hashNamed(data)
	put(t, s, name, string(data))
	reports := 0
	ctx := blob.WithProgress(context.Background(), func() { reports++ })
	p := make([]byte, len(data)-3)
	n, err := s.ReadAt(ctx, name, p, 3)
	if err != nil || n != len(p) || string(p) != string(data[3:]) {
		t.Fatalf("ReadAt = %d, %v; the bytes match: %v", n, err, string(p[:n]) == string(data[3:3+n]))
	}
	if reports < 5 {
		t.Fatalf("a read of 5 MiB reported progress %d times, want at least 5", reports)
	}
}

// A writer told that its caller hashes (blob.Unhasher) commits only with
// the caller's sum, which must still be the one the name promises; what
// it wrote is then stored as written.
func TestUnhashedWriter(t *testing.T) {
	ctx := t.Context()
	data := []byte("hashed once, by the caller")
	name := hashNamed(data)
	sum := sha256.Sum256(data)
	for _, st := range []blob.Store{newStore(t), blob.Sub(newStore(t), "vol/")} {
		create := func() blob.Unhasher {
			t.Helper()
			w, err := blob.Create(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			u, ok := w.(blob.Unhasher)
			if !ok || !u.Unhash() {
				t.Fatalf("%T: Unhash before any write = %v, want true", w, ok)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			return u
		}
		// A sum that is not the name's: refused, nothing stored.
		other := sha256.Sum256([]byte("other bytes"))
		checkKind(t, create().CommitSum(ctx, name, other), errors.Corrupt)
		if _, err := st.Stat(ctx, name); !errors.Is(err, errors.NotExist) {
			t.Fatalf("after a refused CommitSum, Stat = %v, want not found", err)
		}
		// Commit without the sum: refused.
		checkKind(t, create().(blob.ObjectWriter).Commit(ctx, name), errors.Invalid)
		// With it: stored.
		if err := create().CommitSum(ctx, name, sum); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Get(ctx, name, 0, -1); err != nil || string(got) != string(data) {
			t.Fatalf("Get = %q, %v", got, err)
		}
	}
	// Once bytes are written, the writer has hashed them and goes on.
	w, err := newStore(t).Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write(data)
	if w.(blob.Unhasher).Unhash() {
		t.Fatal("Unhash after a write = true, want false")
	}
}

func checkKind(t *testing.T, err error, k errors.Kind) {
	t.Helper()
	if !errors.Is(err, k) {
		t.Fatalf("err = %v, want kind %v", err, k)
	}
}
