package mount_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/cache"
	"github.com/dvpc/dvpc/internal/dvpc"
	derrors "github.com/dvpc/dvpc/internal/errors"
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
	return mountRWIn(t, v, stageDir, t.TempDir())
}

// mountRWIn is mountRW with the spill files in work.
func mountRWIn(t *testing.T, v *volume.Volume, stageDir, work string) *rw {
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
	m, err := mount.Mount(dir, v, mount.Options{Log: slog.New(slog.NewTextHandler(log, nil)), Stage: s, Work: work, FlushEvery: time.Hour, ManualFlush: true})
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
	baseChunks := tv.Volume.Tree().Lookup("/old/big.bin").Chunks
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
	// What may be stored again: the chunks the patch and the tail touch,
	// and up to two chunks of the largest size re-cut after the patch
	// before the cut points meet the old ones again (where they meet
	// depends on the volume's chunking key, random here).
	var touched, off int64
	patchEnd := int64(3<<20 + 5 + len(patch))
	for i, c := range baseChunks {
		end := off + int64(c.Size)
		if (end > 3<<20+5 && off < patchEnd) || i == len(baseChunks)-1 {
			touched += int64(c.Size)
		}
		off = end
	}
	baseLen := int64(len(big) - len("tail"))
	if packed > baseLen+touched+2*int64(tv.Volume.MaxChunk()) {
		t.Errorf("packs hold %d bytes after patching a %d-byte file: the untouched chunks were stored again", packed, len(big))
	}
	// The chunks wholly before the patch are the base's own.
	kept := map[dvpc.ChunkID]bool{}
	for _, c := range other.Tree().Lookup("/old/big.bin").Chunks {
		kept[c.ID] = true
	}
	off = 0
	for _, c := range baseChunks {
		if off+int64(c.Size) > 3<<20+5 {
			break
		}
		if !kept[c.ID] {
			t.Errorf("the base's chunk at %d, before the patch, was stored again", off)
		}
		off += int64(c.Size)
	}
	if s := r.log.String(); s != "" {
		t.Errorf("log: %s", s)
	}
}

// Large files written front to back at the same time, in the pieces the
// kernel sends, each read back as written, through the mount and from
// another device: the buffers their chunks are cut from are reused from
// file to file, and must never be while a chunk cut from one is sealing.
func TestMountParallelStreams(t *testing.T) {
	canMount(t)
	root := mem.New()
	tv := volume.NewTest(t, root, "laptop", nil)
	r := mountRW(t, tv.Volume, "")
	const files, rounds = 4, 2
	data := make([][]byte, files*rounds)
	for i := range data {
		data[i] = make([]byte, 11<<20+i*4099)
		rand.NewChaCha8([32]byte{byte(i), 7}).Read(data[i])
	}
	for round := range rounds {
		var wg sync.WaitGroup
		errs := make([]error, files)
		for i := range files {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := round*files + i
				f, err := os.Create(r.path(fmt.Sprintf("f%d", k)))
				if err != nil {
					errs[i] = err
					return
				}
				for b := data[k]; len(b) > 0 && err == nil; {
					n := min(len(b), 128<<10+i*1000)
					_, err = f.Write(b[:n])
					b = b[n:]
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := range data {
		mustRead(t, r.path(fmt.Sprintf("f%d", k)), data[k])
	}
	if err := r.m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "desktop", nil)
	for k := range data {
		if got := readVolume(t, other, fmt.Sprintf("/f%d", k)); !bytes.Equal(got, data[k]) {
			t.Fatalf("the other device reads f%d different", k)
		}
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

// offline cuts a device off its mirror: every call fails as unreachable.
func offline(s *faulty.Store) {
	for _, m := range []faulty.Method{faulty.Put, faulty.Get, faulty.Stat, faulty.List} {
		s.FailPrefix(m, "", derrors.E(derrors.Unavailable, derrors.Str("offline (test)")))
	}
}

// TestMountTwoDevices: two PCs with the volume mounted; one goes offline
// and both change the same file. Offline, its mount works and its changes
// wait; back online, both mounts show one tree, with the file's other
// version as a conflict copy named after the device that wrote it.
func TestMountTwoDevices(t *testing.T) {
	canMount(t)
	ctx := context.Background()
	shared := mem.New()
	tv := volume.NewTest(t, shared, "laptop", nil)
	put(t, tv.Volume, "/doc.txt", []byte("first\n"))
	plane := faulty.New(shared) // the laptop's way to the mirror
	// The laptop's clock is a minute slow: its edit is the earlier one.
	slow := func() time.Time { return time.Now().Add(-time.Minute) }
	laptop, err := volume.Open(ctx, plane, tv.Cfg, tv.Key, tv.Me(), volume.Options{StateDir: t.TempDir(), Now: slow})
	if err != nil {
		t.Fatal(err)
	}
	desktop := volume.OpenTest(t, shared, tv.Cfg, tv.Key, "desktop", nil)
	a, b := mountRW(t, laptop, ""), mountRW(t, desktop, "")
	mustRead(t, b.path("doc.txt"), []byte("first\n"))

	offline(plane)
	mustWrite(t, a.path("doc.txt"), []byte("edited on the plane\n"))
	mustWrite(t, a.path("plane.txt"), []byte("written offline\n"))
	if err := a.m.Flush(ctx); err == nil {
		t.Fatal("the flush of an offline PC succeeded")
	}
	if err := a.m.Refresh(ctx); err == nil {
		t.Fatal("the refresh of an offline PC succeeded")
	}
	mustRead(t, a.path("doc.txt"), []byte("edited on the plane\n")) // the mount goes on
	mustWrite(t, b.path("doc.txt"), []byte("edited at the office\n"))
	if err := b.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	plane.Reset() // the net is back
	for _, r := range []*rw{a, b, a} {
		if err := r.m.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.m.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel keeps what it looked up for a second: ask after it.
	waitFor(t, "one tree on both", func() bool { return equal(names(t, a.dir), names(t, b.dir)) && len(names(t, a.dir)) == 3 })
	// The later change of the two goes to the copy, named after its
	// device: here the desktop's.
	got := names(t, a.dir)
	var conflict string
	for _, n := range got {
		if strings.HasPrefix(n, "doc (conflict desktop ") && strings.HasSuffix(n, ").txt") {
			conflict = n
		}
	}
	if conflict == "" {
		t.Fatalf("no conflict copy named after the desktop: %v", got)
	}
	for _, r := range []*rw{a, b} {
		mustRead(t, r.path("doc.txt"), []byte("edited on the plane\n"))
		mustRead(t, r.path(conflict), []byte("edited at the office\n"))
		mustRead(t, r.path("plane.txt"), []byte("written offline\n"))
	}
}

// smallDisk mounts a tmpfs of the given size at a new folder, or skips the
// test where that is not allowed.
func smallDisk(t *testing.T, size string) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestMountDiskFull: when this PC's disk is full, writes fail with
// ENOSPC; what was closed before reads back whole; once the stage has
// gone to the mirror and freed its room, writing works again.
func TestMountDiskFull(t *testing.T) {
	canMount(t)
	ctx := context.Background()
	root := mem.New()
	tv := volume.NewTest(t, root, "pc", nil)
	disk := smallDisk(t, "12m")
	os.Mkdir(filepath.Join(disk, "work"), 0o700)
	r := mountRWIn(t, tv.Volume, filepath.Join(disk, "stage"), filepath.Join(disk, "work"))
	rnd := rand.NewChaCha8([32]byte{9})
	var kept [][]byte
	var full error
	for i := 0; i < 40 && full == nil; i++ {
		data := make([]byte, 1<<20)
		rnd.Read(data)
		f, err := os.Create(r.path(fmt.Sprintf("f%d", i)))
		if err != nil {
			full = err
			break
		}
		_, werr := f.Write(data)
		cerr := f.Close()
		switch {
		case werr != nil:
			full = werr
		case cerr != nil:
			full = cerr
		default:
			kept = append(kept, data)
		}
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("writing 40 MiB onto a 12 MiB disk: %v, want ENOSPC", full)
	}
	if len(kept) < 4 {
		t.Fatalf("only %d files fit", len(kept))
	}
	for i, want := range kept {
		mustRead(t, r.path(fmt.Sprintf("f%d", i)), want)
	}
	// The stage goes to the mirror: room again.
	if err := r.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, r.path("after.txt"), []byte("there is room again"))
	mustRead(t, r.path("after.txt"), []byte("there is room again"))
	if err := r.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "other", nil)
	for i, want := range kept {
		if got := readVolume(t, other, fmt.Sprintf("/f%d", i)); !bytes.Equal(got, want) {
			t.Fatalf("f%d reads back different on the other device", i)
		}
	}
	if !strings.Contains(r.log.String(), "no space left") {
		t.Errorf("the log does not say the disk is full: %s", r.log.String())
	}
}

// TestMountOfflineCache: with no mirror reachable, the mount reads what
// the cache holds (what was read or written here), and a file it does not
// hold is EIO with a log line naming it, never wrong or empty data.
func TestMountOfflineCache(t *testing.T) {
	canMount(t)
	ctx := context.Background()
	root := faulty.New(mem.New())
	tv := volume.NewTest(t, root, "pc", nil)
	seen := bytes.Repeat([]byte("read before the flight\n"), 100000)
	unseen := bytes.Repeat([]byte("never read here\n"), 100000)
	put(t, tv.Volume, "/seen.txt", seen)
	put(t, tv.Volume, "/unseen.txt", unseen)
	c, err := cache.Open(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	tv.SetCache(c)
	r := mountRW(t, tv.Volume, "")
	mustRead(t, r.path("seen.txt"), seen)
	written := bytes.Repeat([]byte("written here\n"), 100000)
	mustWrite(t, r.path("written.txt"), written)
	if err := r.m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	offline(root)
	// What the kernel keeps would hide the cache: drop it.
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		t.Skipf("cannot drop the page cache: %v", err)
	}
	mustRead(t, r.path("seen.txt"), seen)
	mustRead(t, r.path("written.txt"), written)
	if _, err := os.ReadFile(r.path("unseen.txt")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading a file neither cached nor reachable: %v, want EIO", err)
	}
	if !strings.Contains(r.log.String(), "unseen.txt") {
		t.Fatalf("no log line names the file: %s", r.log.String())
	}
}

// TestMountVersions: DIR/.dvpc/versions/PATH/ holds every version of the
// file PATH, each named by its time and device, read-only; copying one
// out is a restore by hand.
func TestMountVersions(t *testing.T) {
	canMount(t)
	tv := volume.NewTest(t, mem.New(), "laptop", nil)
	r := mountRW(t, tv.Volume, "")
	os.Mkdir(r.path("notes"), 0o755)
	for _, text := range []string{"first\n", "second\n", "third\n"} {
		mustWrite(t, r.path("notes/today.txt"), []byte(text))
	}
	dir := r.path(".dvpc/versions/notes/today.txt")
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The create (empty) and three writes, sorted by time, so by name;
	// a truncation (O_TRUNC) that a flush caught before its write is an
	// empty version too.
	var got []string
	written := ""
	for _, e := range es {
		if !strings.HasSuffix(e.Name(), " laptop.txt") {
			t.Errorf("version named %q", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
		if len(b) > 0 {
			written = e.Name()
		}
	}
	if nonEmpty := strings.Join(strings.Fields(strings.Join(got, " ")), "|"); nonEmpty != "first|second|third" || got[0] != "" || len(es) > 6 {
		t.Fatalf("the %d versions read %q", len(es), got)
	}
	if err := os.WriteFile(filepath.Join(dir, written), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("writing a version: %v, want EROFS", err)
	}
	if names := names(t, r.path(".dvpc/versions")); !equal(names, []string{"notes"}) {
		t.Fatalf(".dvpc/versions holds %v", names)
	}
	if _, err := os.Stat(r.path(".dvpc/versions/nope.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("versions of a file that never was: %v", err)
	}
}

// A file written front to back counts as streaming once it has stored 8
// MiB, and no longer once it is written elsewhere or closed: while it
// streams, the flushes that changes ask for wait (flushLoop).
func TestStreamingWriter(t *testing.T) {
	tv := volume.NewTest(t, mem.New(), "laptop", nil)
	r := mountRW(t, tv.Volume, "")
	data := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{3}).Read(data)
	write := func(name string, pieces int, closeIt bool) *os.File {
		t.Helper()
		f, err := os.Create(r.path(name))
		if err != nil {
			t.Fatal(err)
		}
		for range pieces {
			if _, err := f.Write(data); err != nil {
				t.Fatal(err)
			}
		}
		if closeIt {
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			return nil
		}
		return f
	}
	small := write("small.bin", 2, false)
	if r.m.Streaming() {
		t.Fatal("a file of 2 MiB being written counts as streaming")
	}
	big := write("big.bin", 12, false)
	if !r.m.Streaming() {
		t.Fatal("a file of 12 MiB written front to back does not count as streaming")
	}
	if err := big.Close(); err != nil {
		t.Fatal(err)
	}
	if r.m.Streaming() {
		t.Fatal("a closed file still counts as streaming")
	}
	other := write("other.bin", 12, false)
	if _, err := other.WriteAt([]byte("patch"), 100); err != nil {
		t.Fatal(err)
	}
	if r.m.Streaming() {
		t.Fatal("a file written out of order still counts as streaming")
	}
	for _, f := range []*os.File{small, other} {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	mustRead(t, r.path("big.bin"), bytes.Repeat(data, 12))
}

// TestStreamInterrupted: a file being written front to back, whose chunks
// are cut and stored behind the writer, reads back as written when
// something else happens to it mid-stream: a read through another handle
// (which ends the stream), a truncation to empty (which starts a new
// one), an fsync, a stat. Run with -race, it also checks that nothing
// reads the pending bytes the cutter moves.
func TestStreamInterrupted(t *testing.T) {
	canMount(t)
	root := mem.New()
	tv := volume.NewTest(t, root, "laptop", nil)
	r := mountRW(t, tv.Volume, "")
	data := make([]byte, 13<<20+12345)
	rand.NewChaCha8([32]byte{9}).Read(data)
	// write writes data[from:to] at its offset, in pieces of odd sizes.
	write := func(f *os.File, from, to int) {
		t.Helper()
		for off := from; off < to; {
			n := min(to-off, 300<<10+off%4093)
			if _, err := f.Write(data[off : off+n]); err != nil {
				t.Fatal(err)
			}
			off += n
		}
	}
	for _, c := range []struct {
		name string
		mid  func(t *testing.T, name string, f *os.File) (resume int)
	}{
		{"read", func(t *testing.T, name string, f *os.File) int {
			g, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			got := make([]byte, 3<<20)
			if _, err := g.ReadAt(got, 5<<20); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[5<<20:8<<20]) {
				t.Fatal("a read mid-stream differs from what was written")
			}
			return 9 << 20
		}},
		{"truncate", func(t *testing.T, name string, f *os.File) int {
			if err := f.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			return 0
		}},
		{"fsync", func(t *testing.T, name string, f *os.File) int {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			return 9 << 20
		}},
		{"stat", func(t *testing.T, name string, f *os.File) int {
			st, err := os.Stat(name)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != 9<<20 {
				t.Fatalf("size mid-stream %d, want %d", st.Size(), 9<<20)
			}
			return 9 << 20
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := r.path(c.name)
			f, err := os.Create(name)
			if err != nil {
				t.Fatal(err)
			}
			write(f, 0, 9<<20)
			write(f, c.mid(t, name, f), len(data))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			mustRead(t, name, data)
		})
	}
	if err := r.m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "desktop", nil)
	for _, name := range []string{"read", "truncate", "fsync", "stat"} {
		if !bytes.Equal(readVolume(t, other, "/"+name), data) {
			t.Errorf("the other device reads %s different", name)
		}
	}
}

// TestNoXattrRoundTrips: extended attributes are not kept, and the kernel
// is told so: getting or setting one fails with ENOTSUP, removing one
// finds none, listing them finds none; and a write is no longer preceded by the kernel's
// question for the file's security.capability, a round trip of its own
// for each write request, which the mount's log of FUSE requests shows.
func TestNoXattrRoundTrips(t *testing.T) {
	canMount(t)
	var fuseLog syncBuffer
	log.SetOutput(&fuseLog) // go-fuse's debug lines go to the standard logger
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	tv := volume.NewTest(t, mem.New(), "laptop", nil)
	s, err := tv.OpenStage(filepath.Join(t.TempDir(), "stage"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := mount.Mount(dir, tv.Volume, mount.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Debug: true,
		Stage: s, Work: t.TempDir(), FlushEvery: time.Hour, ManualFlush: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &rw{dir: dir, m: m}
	t.Cleanup(func() { r.unmount(t) })

	name := r.path("f")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	piece := bytes.Repeat([]byte("x"), 256<<10)
	for range 8 {
		if _, err := f.Write(piece); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		op  string
		err error
	}{
		{"getxattr", func() error { _, err := unix.Getxattr(name, "user.a", make([]byte, 64)); return err }()},
		{"setxattr", unix.Setxattr(name, "user.a", []byte("v"), 0)},
	} {
		if !errors.Is(c.err, syscall.ENOTSUP) {
			t.Errorf("%s: %v, want ENOTSUP", c.op, c.err)
		}
	}
	if err := unix.Removexattr(name, "user.a"); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("removexattr: %v, want ENODATA", err)
	}
	if n, err := unix.Listxattr(name, make([]byte, 64)); n != 0 || err != nil {
		t.Errorf("listxattr: %d bytes, %v; want none", n, err)
	}
	got := fuseLog.String()
	if n := strings.Count(got, "WRITE"); n < 8 {
		t.Fatalf("the FUSE log shows %d writes, want 8 or more", n)
	}
	if n := strings.Count(got, "GETXATTR"); n > 1 {
		t.Errorf("%d GETXATTR requests for 8 writes and a getxattr, want at most one", n)
	}
}
