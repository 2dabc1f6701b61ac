package volume

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"

	"github.com/dvpc/dvpc/internal/blob/mem"
)

func writeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readFile(t *testing.T, v *Volume, p string) []byte {
	t.Helper()
	n := v.Tree().Lookup(p)
	if n == nil {
		t.Fatalf("%s: not in tree", p)
	}
	var buf bytes.Buffer
	if _, err := v.WriteTo(context.Background(), n, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	files := map[string][]byte{
		"a.txt":       []byte("hello"),
		"sub/b.bin":   randomBytes(3<<20, 1),
		"sub/deep/c":  bytes.Repeat([]byte("compressible "), 100000),
		"empty":       nil,
		"sub/dup.bin": randomBytes(3<<20, 1),
	}
	src := writeTree(t, files)
	tv := NewTest(t, mem.New(), "pc1", nil)
	res, err := tv.Import(ctx, src, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Skipped) > 0 {
		t.Fatal(res.Skipped)
	}
	for name, data := range files {
		if got := readFile(t, tv.Volume, "/"+name); !bytes.Equal(got, data) {
			t.Errorf("%s: got %d bytes, want %d", name, len(got), len(data))
		}
	}
	// A second import of the same tree changes nothing.
	res, err = tv.Import(ctx, src, "/", nil)
	if err != nil || res.Changed != 0 {
		t.Fatalf("second import: changed %d, err %v", res.Changed, err)
	}
	// Another device sees the same tree.
	v2 := OpenTest(t, tv.Root, tv.Cfg, tv.Key, "pc2", nil)
	for name, data := range files {
		if got := readFile(t, v2, "/"+name); !bytes.Equal(got, data) {
			t.Errorf("pc2 %s: got %d bytes, want %d", name, len(got), len(data))
		}
	}
}

// A second segment with a sequence number already read is refused, not
// silently dropped.
func TestForkedJournalRefused(t *testing.T) {
	ctx := context.Background()
	tv := NewTest(t, mem.New(), "pc1", nil)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	if err := tv.PutFile(ctx, filepath.Join(dir, "f"), "/f"); err != nil {
		t.Fatal(err)
	}
	l := tv.logs[tv.Me().ID]
	seg := &journal.Segment{Device: tv.Me().ID, Seq: l.seq, Prev: dvpc.ObjectID{}, Entries: l.entries}
	b := seg.Marshal(tv.keys.Meta, 1, tv.Me().Key)
	if err := tv.Root.Put(ctx, "volumes/"+tv.Cfg.ID.String()+"/"+journal.Name(tv.Me().ID, seg.Seq, dvpc.Hash(b)), b); err != nil {
		t.Fatal(err)
	}
	if err := tv.Sync(ctx); !errors.Is(err, errors.Corrupt) || !strings.Contains(err.Error(), "forked") {
		t.Fatalf("sync over a forked journal: %v", err)
	}
}

// A file larger than one part is exported in parallel parts, each at its
// offset, and comes back whole.
func TestExportLargeFile(t *testing.T) {
	ctx := context.Background()
	files := map[string][]byte{"big": randomBytes(3*partSize+12345, 7), "small": []byte("s"), "empty": nil}
	tv := NewTest(t, mem.New(), "pc1", nil)
	if _, err := tv.Import(ctx, writeTree(t, files), "/", nil); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := tv.Export(ctx, tv.Tree(), "/", out, &Progress{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes back, want %d (%v)", name, len(got), len(want), err)
		}
	}
}

// A change whose path would grow past journal.MaxPath (a folder moved to a
// longer name, deep files under it) is refused before it reaches a
// segment: one entry no reader accepts would make the whole segment
// unreadable. The tree and the mirror stay as they were.
func TestPathTooLongRefused(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	tv := NewTest(t, root, "pc1", nil)
	deep := "/d/" + strings.Repeat("n", journal.MaxPath-len("/d/")) // exactly the bound
	if err := tv.Mkdir(ctx, "/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tv.Mkdir(ctx, deep, 0o755); err != nil {
		t.Fatalf("a path of exactly %d bytes: %v", journal.MaxPath, err)
	}
	before := countObjects(t, root, "volumes/")
	if err := tv.Move(ctx, "/d", "/dd"); !errors.Is(err, errors.Invalid) || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("moving /d to /dd, which makes a path of %d bytes: %.200v", journal.MaxPath+1, err)
	}
	if tv.Tree().Lookup(deep) == nil || tv.Tree().Lookup("/dd") != nil {
		t.Fatal("a refused move changed the tree")
	}
	if n := countObjects(t, root, "volumes/"); n != before {
		t.Fatalf("a refused move wrote %d objects", n-before)
	}
	s, err := tv.OpenStage(filepath.Join(t.TempDir(), "stage"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(journal.Entry{Op: journal.Mkdir, Path: deep + "x", Mode: 0o755}); !errors.Is(err, errors.Invalid) {
		t.Fatalf("staging a path of %d bytes: %v", journal.MaxPath+1, err)
	}
	if s.Pending() != 0 {
		t.Fatal("a refused entry is pending in the stage")
	}
	// Another PC opens the volume from the mirror and sees the tree.
	pc2 := OpenTest(t, root, tv.Cfg, tv.Key, "pc2", nil)
	if err := pc2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if pc2.Tree().Lookup(deep) == nil {
		t.Fatal("another PC does not see the folder")
	}
}
