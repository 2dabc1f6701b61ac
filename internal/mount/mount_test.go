package mount_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	derrors "github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/mount"
	"github.com/dvpc/dvpc/internal/volume"
)

// canMount skips the test where FUSE cannot be mounted directly.
func canMount(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting without fusermount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse here")
	}
}

// clock is a test clock that moves one second a reading.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func put(t *testing.T, v *volume.Volume, p string, data []byte) {
	t.Helper()
	local := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := v.PutFile(context.Background(), local, p); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a buffer the mount's log and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func mountIt(t *testing.T, v *volume.Volume, log *syncBuffer) string {
	t.Helper()
	_, dir := mountedAt(t, v, log)
	return dir
}

// mountedAt mounts v read-only in a new folder until the test ends.
func mountedAt(t *testing.T, v *volume.Volume, log *syncBuffer) (*mount.Mounted, string) {
	t.Helper()
	dir := t.TempDir()
	o := mount.Options{}
	if log != nil {
		o.Log = slog.New(slog.NewTextHandler(log, nil))
	}
	m, err := mount.Mount(dir, v, o)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return m, dir
}

// A listing gives the kernel the attributes of the entries it does not
// know yet (READDIRPLUS: ls -l, du then stat nothing more), and not of
// those it knows (git status stats every file, then lists every folder):
// those cost no lookup, and still stat right.
func TestListingGivesAttributesOnce(t *testing.T) {
	canMount(t)
	c := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	v := volume.NewTest(t, mem.New(), "pc", c.now).Volume
	const files = 40
	for i := range files {
		put(t, v, fmt.Sprintf("/d/f%02d", i), bytes.Repeat([]byte("x"), i))
	}
	m, dir := mountedAt(t, v, nil)
	d := filepath.Join(dir, "d")
	if _, err := os.Stat(d); err != nil {
		t.Fatal(err)
	}
	list := func() int64 {
		t.Helper()
		before := m.Lookups()
		es, err := os.ReadDir(d)
		if err != nil || len(es) != files {
			t.Fatalf("ReadDir = %d entries, %v; want %d", len(es), err, files)
		}
		return m.Lookups() - before
	}
	if n := list(); n != files {
		t.Fatalf("a first listing looked up %d names, want the %d it lists (attributes with names)", n, files)
	}
	if n := list(); n != 0 {
		t.Fatalf("listing again looked up %d names the kernel knows, want none", n)
	}
	for i := range files {
		fi, err := os.Lstat(filepath.Join(d, fmt.Sprintf("f%02d", i)))
		if err != nil || fi.Size() != int64(i) {
			t.Fatalf("f%02d: %v, %v; want a file of %d bytes", i, fi, err, i)
		}
	}
}

// The mount shows the tree: folders, files with their size, mode and
// content (a large one read in pieces and whole), symbolic links; it
// refuses writes; and .dvpc/at/TIME is the tree as it was then.
func TestMountReadOnly(t *testing.T) {
	canMount(t)
	c := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	tv := volume.NewTest(t, mem.New(), "pc", c.now)
	v := tv.Volume
	big := make([]byte, 9<<20+12345)
	rand.NewChaCha8([32]byte{1}).Read(big)
	put(t, v, "/docs/a.txt", []byte("version one\n"))
	put(t, v, "/big.bin", big)
	before := c.now()
	put(t, v, "/docs/a.txt", []byte("version two, longer\n"))
	if err := v.Mkdir(context.Background(), "/empty", 0o700); err != nil {
		t.Fatal(err)
	}
	dir := mountIt(t, v, nil)

	if got, err := os.ReadFile(filepath.Join(dir, "docs/a.txt")); err != nil || string(got) != "version two, longer\n" {
		t.Fatalf("read a.txt: %q, %v", got, err)
	}
	f, err := os.Open(filepath.Join(dir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// Pieces first, before the kernel caches the file: reads that
	// straddle the mount's windows (runs of whole chunks).
	offs := []int64{0, 1, 4<<20 - 7, 9 << 20, int64(len(big)) - 3}
	for off := int64(1<<20 - 100); off < int64(len(big)); off += 1 << 20 {
		offs = append(offs, off)
	}
	for _, off := range offs {
		p := make([]byte, 300<<10)
		n, err := f.ReadAt(p, off)
		want := big[off:min(off+int64(len(p)), int64(len(big)))]
		if (err != nil && err != io.EOF) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt %d: %d bytes, %v", off, n, err)
		}
	}
	f.Close()
	got, err := os.ReadFile(filepath.Join(dir, "big.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read big.bin whole: %d bytes, %v", len(got), err)
	}
	fi, err := os.Stat(filepath.Join(dir, "big.bin"))
	if err != nil || fi.Size() != int64(len(big)) || !fi.Mode().IsRegular() {
		t.Fatalf("stat big.bin: %v, %v", fi, err)
	}
	fi, err = os.Stat(filepath.Join(dir, "empty"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("stat empty: %v, %v", fi, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "big.bin docs empty" {
		t.Fatalf("root lists %q", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of a missing file: %v", err)
	}
	err = os.WriteFile(filepath.Join(dir, "docs/a.txt"), []byte("x"), 0o644)
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write into the mount: %v, want EROFS", err)
	}

	// Time travel.
	at := filepath.Join(dir, ".dvpc", "at", before.Format(time.RFC3339))
	if got, err := os.ReadFile(filepath.Join(at, "docs/a.txt")); err != nil || string(got) != "version one\n" {
		t.Fatalf("read a.txt as it was: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(at, "empty")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a folder made later shows in the past: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".dvpc", "at", "yesterday")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a name that is no time: %v", err)
	}
}

// A file whose data cannot be fetched is an error (EIO) with a log line
// naming it, never empty or wrong data.
func TestMountReadError(t *testing.T) {
	canMount(t)
	c := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	root := faulty.New(mem.New())
	tv := volume.NewTest(t, root, "pc", c.now)
	put(t, tv.Volume, "/f.txt", []byte("content that the mirror will not give back"))
	var log syncBuffer
	dir := mountIt(t, tv.Volume, &log)
	root.FailPrefix(faulty.Get, "volumes/", derrors.E(derrors.Unavailable, derrors.Str("unplugged (test)")))
	_, err := os.ReadFile(filepath.Join(dir, "f.txt"))
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with the mirror gone: %v, want EIO", err)
	}
	if !strings.Contains(log.String(), "/f.txt") || !strings.Contains(log.String(), "unplugged") {
		t.Fatalf("log does not name the file and the cause:\n%s", log.String())
	}
	root.Reset()
	if got, err := os.ReadFile(filepath.Join(dir, "f.txt")); err != nil || string(got) != "content that the mirror will not give back" {
		t.Fatalf("read once the mirror is back: %q, %v", got, err)
	}
}

// waitFor polls cond until it holds or 10 s pass: the kernel caches
// entries and attributes for a second, so a change shows within that.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10 s", what)
}

// Refresh shows another device's changes: a new file, a changed one, a
// removed one; a file open meanwhile keeps reading the version it opened;
// inode numbers stay the same for the same file.
func TestMountRefresh(t *testing.T) {
	canMount(t)
	c := &clock{t: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)}
	root := mem.New()
	tv := volume.NewTest(t, root, "pc", c.now)
	put(t, tv.Volume, "/a.txt", []byte("first version of a\n"))
	put(t, tv.Volume, "/gone.txt", []byte("to be removed\n"))
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "other", c.now)
	dir := t.TempDir()
	m, err := mount.Mount(dir, tv.Volume, mount.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	var before syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "a.txt"), &before); err != nil {
		t.Fatal(err)
	}
	open, err := os.Open(filepath.Join(dir, "a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()

	put(t, other, "/a.txt", []byte("second version of a, from the other PC\n"))
	put(t, other, "/new.txt", []byte("new\n"))
	if err := other.Remove(context.Background(), "/gone.txt", false); err != nil {
		t.Fatal(err)
	}
	if err := m.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new file", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "new.txt"))
		return err == nil && string(b) == "new\n"
	})
	waitFor(t, "the changed file", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "a.txt"))
		return err == nil && string(b) == "second version of a, from the other PC\n"
	})
	waitFor(t, "the removed file", func() bool {
		_, err := os.Stat(filepath.Join(dir, "gone.txt"))
		return errors.Is(err, os.ErrNotExist)
	})
	// The file opened before reads the version it opened.
	b, err := io.ReadAll(open)
	if err != nil || string(b) != "first version of a\n" {
		t.Fatalf("a file open across the refresh reads %q, %v", b, err)
	}
	var after syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "a.txt"), &after); err != nil {
		t.Fatal(err)
	}
	if before.Ino != after.Ino {
		t.Fatalf("a.txt changed inode number: %d, then %d", before.Ino, after.Ino)
	}
}
