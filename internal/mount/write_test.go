package mount_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/mount"
	"github.com/dvpc/dvpc/internal/volume"
)

// rw is a writable mount for a test.
type rw struct {
	dir   string
	m     *mount.Mounted
	stage string
	log   *syncBuffer
}

// mountRW mounts v writable, with its stage in stageDir ("" for a new
// one). The test's cleanup unmounts it and flushes the stage.
func mountRW(t *testing.T, v *volume.Volume, stageDir string) *rw {
	t.Helper()
	if stageDir == "" {
		stageDir = filepath.Join(t.TempDir(), "stage")
	}
	s, err := v.OpenStage(stageDir)
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	dir := t.TempDir()
	m, err := mount.Mount(dir, v, mount.Options{Log: slog.New(slog.NewTextHandler(log, nil)), Stage: s, Work: t.TempDir(), FlushEvery: time.Hour})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	r := &rw{dir: dir, m: m, stage: stageDir, log: log}
	t.Cleanup(func() { r.unmount(t) })
	return r
}

func (r *rw) unmount(t *testing.T) {
	t.Helper()
	if r.m == nil {
		return
	}
	if err := r.m.Unmount(); err != nil {
		t.Errorf("unmount: %v", err)
	}
	if err := r.m.Close(context.Background()); err != nil {
		t.Errorf("close: %v", err)
	}
	r.m = nil
}

func (r *rw) path(p string) string { return filepath.Join(r.dir, p) }

func mustWrite(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: read %d bytes %.40q, want %d bytes %.40q", name, len(got), got, len(want), want)
	}
}

// readVolume reads p from another device's view of the volume.
func readVolume(t *testing.T, v *volume.Volume, p string) []byte {
	t.Helper()
	n := v.Tree().Lookup(p)
	if n == nil {
		t.Fatalf("%s is not in the volume", p)
	}
	var b bytes.Buffer
	if _, err := v.WriteTo(context.Background(), n, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestMountWrite: files, folders and links made, written, renamed,
// truncated and removed through the mount read back as written, at once
// and from another device after the flush, with nothing on the mirror
// before it.
func TestMountWrite(t *testing.T) {
	canMount(t)
	ctx := context.Background()
	root := mem.New()
	tv := volume.NewTest(t, root, "laptop", nil)
	big := make([]byte, 7<<20+999)
	rand.NewChaCha8([32]byte{2}).Read(big)
	put(t, tv.Volume, "/old/big.bin", big)
	put(t, tv.Volume, "/old/keep.txt", []byte("keep me"))
	objects := count(t, root)
	r := mountRW(t, tv.Volume, "")

	mustWrite(t, r.path("hello.txt"), []byte("hello, world\n"))
	mustRead(t, r.path("hello.txt"), []byte("hello, world\n"))
	if err := os.MkdirAll(r.path("a/b/c"), 0o750); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, r.path("a/b/c/deep.txt"), []byte("deep"))
	if err := os.Symlink("../hello.txt", r.path("a/link")); err != nil {
		t.Fatal(err)
	}
	mustRead(t, r.path("a/link"), []byte("hello, world\n"))

	// An editor's save: write a new file, rename it over the old.
	mustWrite(t, r.path("a/b/c/.deep.txt.swp"), []byte("deep, edited"))
	if err := os.Rename(r.path("a/b/c/.deep.txt.swp"), r.path("a/b/c/deep.txt")); err != nil {
		t.Fatal(err)
	}
	mustRead(t, r.path("a/b/c/deep.txt"), []byte("deep, edited"))
	if _, err := os.Stat(r.path("a/b/c/.deep.txt.swp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the renamed file is still there: %v", err)
	}

	// Overwrite the middle of a large file, append to it, read it back.
	f, err := os.OpenFile(r.path("old/big.bin"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	patch := bytes.Repeat([]byte("X"), 100000)
	if _, err := f.WriteAt(patch, 3<<20+5); err != nil {
		t.Fatal(err)
	}
	copy(big[3<<20+5:], patch)
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	big = append(big, "tail"...)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(big))
	if _, err := f.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the patched file reads back different through its handle")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustRead(t, r.path("old/big.bin"), big)

	// Truncate, shorter then longer: the bytes between read as zeros.
	if err := os.Truncate(r.path("old/keep.txt"), 4); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(r.path("old/keep.txt"), 10); err != nil {
		t.Fatal(err)
	}
	mustRead(t, r.path("old/keep.txt"), []byte("keep\x00\x00\x00\x00\x00\x00"))

	// chmod, a folder renamed with what is in it, removals.
	if err := os.Chmod(r.path("hello.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(r.path("hello.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("chmod: %v %v", fi, err)
	}
	if err := os.Rename(r.path("a"), r.path("z")); err != nil {
		t.Fatal(err)
	}
	mustRead(t, r.path("z/b/c/deep.txt"), []byte("deep, edited"))
	if err := os.Remove(r.path("z/b/c/deep.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r.path("z/b")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a folder with a folder in it: %v", err)
	}
	if err := os.Remove(r.path("z/b/c")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(r.path("z/b")); err != nil {
		t.Fatal(err)
	}
	want := []string{"hello.txt", "old", "z"}
	if got := names(t, r.dir); !equal(got, want) {
		t.Fatalf("root holds %v, want %v", got, want)
	}
	if got := names(t, r.path("z")); !equal(got, []string{"link"}) {
		t.Fatalf("z holds %v", got)
	}
	if n := count(t, root); n != objects {
		t.Fatalf("the mirror got %d objects before the flush", n-objects)
	}

	// The flush: another device sees it all.
	if err := r.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "desktop", nil)
	if got := readVolume(t, other, "/old/big.bin"); !bytes.Equal(got, big) {
		t.Fatal("the other device reads big.bin different")
	}
	if got := readVolume(t, other, "/hello.txt"); string(got) != "hello, world\n" {
		t.Fatalf("the other device reads %q", got)
	}
	if n := other.Tree().Lookup("/z/link"); n == nil || n.Target != "../hello.txt" {
		t.Fatalf("the other device's link: %+v", n)
	}
	if n := other.Tree().Lookup("/hello.txt"); n.Mode != 0o600 {
		t.Fatalf("mode %o", n.Mode)
	}
	if other.Tree().Lookup("/a") != nil || other.Tree().Lookup("/z/b") != nil {
		t.Fatal("the other device still sees what was moved or removed")
	}
	// The patch of 100 kB in a 7 MB file stored the chunks around it, not
	// the file again.
	var packed int64
	root.List(ctx, "volumes/", func(i blob.Info) error {
		if filepath.Base(filepath.Dir(i.Name)) != "" && len(i.Name) > 0 && bytes.Contains([]byte(i.Name), []byte("/data/")) {
			packed += i.Size
		}
		return nil
	})
	if packed > int64(len(big))+4<<20 {
		t.Errorf("packs hold %d bytes after patching a %d-byte file: the untouched chunks were stored again", packed, len(big))
	}
	if s := r.log.String(); s != "" {
		t.Errorf("log: %s", s)
	}
}

// TestMountWriteSurvivesCrash: what was closed is in the stage; a new
// mount on it after a crash (no flush, no unmount) shows it, and the
// flush then delivers it.
func TestMountWriteSurvivesCrash(t *testing.T) {
	canMount(t)
	ctx := context.Background()
	root := mem.New()
	tv := volume.NewTest(t, root, "laptop", nil)
	r := mountRW(t, tv.Volume, "")
	data := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{3}).Read(data)
	mustWrite(t, r.path("doc.bin"), data)
	if err := os.Mkdir(r.path("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The crash: the mount goes without a flush; the volume is opened
	// again from its local state.
	if err := r.m.Unmount(); err != nil {
		t.Fatal(err)
	}
	r.m = nil
	v2, err := volume.Open(ctx, root, tv.Cfg, tv.Key, tv.Me(), volume.Options{StateDir: t.TempDir(), Offline: false})
	if err != nil {
		t.Fatal(err)
	}
	r2 := mountRW(t, v2, r.stage)
	mustRead(t, r2.path("doc.bin"), data)
	if fi, err := os.Stat(r2.path("dir")); err != nil || !fi.IsDir() {
		t.Fatalf("dir: %v %v", fi, err)
	}
	r2.unmount(t)
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "desktop", nil)
	if got := readVolume(t, other, "/doc.bin"); !bytes.Equal(got, data) {
		t.Fatal("the other device reads doc.bin different")
	}
}

func count(t *testing.T, st blob.Store) int {
	t.Helper()
	n := 0
	if err := st.List(context.Background(), "", func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Name() != mount.Control {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
