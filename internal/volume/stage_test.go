package volume

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
)

// stageFile stores data through the stage as the file p.
func stageFile(t testing.TB, s *Stage, p string, data []byte) journal.Entry {
	t.Helper()
	var refs []journal.ChunkRef
	for off := 0; off < len(data); off += 300 << 10 {
		ref, err := s.StoreChunk(data[off:min(off+300<<10, len(data))])
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, ref)
	}
	es, err := s.Add(journal.Entry{Op: journal.Put, Path: p, Base: base(s.v.Tree(), p), Mode: 0o644, Size: uint64(len(data)), Chunks: refs})
	if err != nil {
		t.Fatal(err)
	}
	return es[0]
}

// restart is this PC starting again after a crash (no Close): the volume
// opened from its local state, offline, and the stage from the logs in
// dir.
func restart(t *testing.T, root blob.Store, tv *TestVolume, dir string) (*Volume, *Stage) {
	t.Helper()
	v, err := Open(context.Background(), root, tv.Cfg, tv.Key, tv.me, Options{StateDir: tv.stateDir, Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := v.OpenStage(dir)
	if err != nil {
		t.Fatal(err)
	}
	return v, s
}

func countObjects(t *testing.T, st blob.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := st.List(context.Background(), prefix, func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStage: staged changes show in the tree and read at once with
// nothing on the mirror; a crash (no Close) loses none of them; Flush
// puts them on the mirror in one segment, where another device reads
// them.
func TestStage(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	tv := NewTest(t, root, "laptop", nil)
	v := tv.Volume
	dir := filepath.Join(t.TempDir(), "stage")
	s, err := v.OpenStage(dir)
	if err != nil {
		t.Fatal(err)
	}
	segs := countObjects(t, root, "volumes/")
	big := randomBytes(1<<20, 7)
	stageFile(t, s, "/a.txt", []byte("hello"))
	if _, err := s.Add(journal.Entry{Op: journal.Mkdir, Path: "/docs", Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	stageFile(t, s, "/docs/big", big)
	if n := countObjects(t, root, "volumes/"); n != segs {
		t.Fatalf("the mirror got %d objects before any flush", n-segs)
	}
	if got := readFile(t, v, "/docs/big"); !bytes.Equal(got, big) {
		t.Fatal("a staged file reads back different")
	}
	if s.Pending() != 3 {
		t.Fatalf("pending %d, want 3", s.Pending())
	}

	// A crash: the PC starts again from its local state and the logs.
	v2, s2 := restart(t, root, tv, dir)
	if got := readFile(t, v2, "/docs/big"); !bytes.Equal(got, big) {
		t.Fatal("after the crash, a staged file reads back different")
	}
	if got := readFile(t, v2, "/a.txt"); string(got) != "hello" {
		t.Fatalf("after the crash: %q", got)
	}
	stageFile(t, s2, "/a.txt", []byte("hello again"))
	if err := s2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("logs left after the flush: %v", left)
	}
	if s2.Pending() != 0 {
		t.Fatalf("pending %d after the flush", s2.Pending())
	}
	other := OpenTest(t, root, tv.Cfg, tv.Key, "desktop", nil)
	if got := readFile(t, other, "/docs/big"); !bytes.Equal(got, big) {
		t.Fatal("the other device reads the flushed file different")
	}
	if got := readFile(t, other, "/a.txt"); string(got) != "hello again" {
		t.Fatalf("the other device reads %q", got)
	}
	if h := other.Tree().History("/a.txt"); len(h) != 2 {
		t.Fatalf("history of /a.txt has %d versions, want 2", len(h))
	}
	// Two logs (before and after the crash), two segments.
	if n := countObjects(t, root, "volumes/"+tv.Cfg.ID.String()+"/journal/"+v.me.ID.String()); n != 2 {
		t.Fatalf("%d segments, want 2", n)
	}
}

// TestStageTornTail: a record cut short by a crash is dropped, and what
// came before it stays.
func TestStageTornTail(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	tv := NewTest(t, root, "laptop", nil)
	dir := filepath.Join(t.TempDir(), "stage")
	s, err := tv.OpenStage(dir)
	if err != nil {
		t.Fatal(err)
	}
	stageFile(t, s, "/kept", []byte("kept"))
	stageFile(t, s, "/torn", []byte("torn"))
	name := filepath.Join(dir, stageName(1))
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(name, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	v2, s2 := restart(t, root, tv, dir)
	if v2.Tree().Lookup("/kept") == nil || v2.Tree().Lookup("/torn") != nil {
		t.Fatal("want /kept and not /torn after a torn tail")
	}
	if err := s2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other := OpenTest(t, root, tv.Cfg, tv.Key, "desktop", nil)
	if got := readFile(t, other, "/kept"); string(got) != "kept" {
		t.Fatalf("read %q", got)
	}
}

// TestStageForgedChunk: a chunk of the stage changed on the disk, its
// record's checksum made to match, is refused by the flush as corrupt
// (its AEAD), and nothing of it reaches the mirror.
func TestStageForgedChunk(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	tv := NewTest(t, root, "laptop", nil)
	dir := filepath.Join(t.TempDir(), "stage")
	s, err := tv.OpenStage(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(100<<10, 3)
	stageFile(t, s, "/f", data)
	name := filepath.Join(dir, stageName(1))
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	// The first record after the header is the chunk's: flip a byte in
	// the middle of its data and sign the record's CRC anew.
	rec := b[dvpc.HeaderSize:]
	n := binary.BigEndian.Uint32(rec[:4])
	rec[8+n/2] ^= 1
	frameRecord(rec[:8+n])
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, s2 := restart(t, root, tv, dir)
	err = s2.Flush(ctx)
	if !errors.Is(err, errors.Corrupt) {
		t.Fatalf("flush of a forged chunk: %v, want a corrupt error", err)
	}
	if n := countObjects(t, root, "volumes/"+tv.Cfg.ID.String()+"/data/"); n != 0 {
		t.Fatalf("%d packs on the mirror after the refused flush", n)
	}
}

func FuzzParseStage(f *testing.F) {
	root := mem.New()
	tv := NewTest(f, root, "laptop", nil)
	dir := f.TempDir()
	s, err := tv.OpenStage(dir)
	if err != nil {
		f.Fatal(err)
	}
	stageFile(f, s, "/x", []byte("some content"))
	b, err := os.ReadFile(filepath.Join(dir, stageName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[6:]) // the records, after the header
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		good, _ := parseStage(bytes.NewReader(b), 0, func(off int64, body []byte) error {
			_, err := s.decode(1, off, body)
			return err
		})
		if good < 0 || good > int64(len(b)) {
			t.Fatalf("good prefix %d of %d bytes", good, len(b))
		}
	})
}
