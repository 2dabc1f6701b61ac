package volume_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/cache"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/volume"
)

// cachedVolume returns a volume on a mirror that can be made to fail,
// holding data at /f, with a cache (in dir) that has nothing yet.
func cachedVolume(t *testing.T, data []byte) (*volume.TestVolume, *faulty.Store, *cache.Cache, string) {
	t.Helper()
	root := faulty.New(mem.New())
	tv := volume.NewTest(t, root, "pc", nil)
	local := filepath.Join(t.TempDir(), "f")
	os.WriteFile(local, data, 0o644)
	if err := tv.PutFile(context.Background(), local, "/f"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := cache.Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	tv.SetCache(c)
	return tv, root, c, dir
}

// A file read once reads again with the mirror out of reach, from the
// cache; a damaged cache entry is never returned: the read goes to the
// mirror again.
func TestCacheServesOffline(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("cached content "), 300000) // 4.5 MB, several chunks
	tv, root, c, dir := cachedVolume(t, data)
	read := func() ([]byte, error) {
		var b bytes.Buffer
		_, err := tv.WriteTo(ctx, tv.Tree().Lookup("/f"), &b)
		return b.Bytes(), err
	}
	if got, err := read(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first read: %v", err)
	}
	c.Wait()
	if c.Used() == 0 {
		t.Fatal("the read cached nothing")
	}
	root.FailPrefix(faulty.Get, "", errors.E(errors.Unavailable, errors.Str("offline (test)")))
	if got, err := read(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("offline read from the cache: %v", err)
	}
	c.Wait() // the second read rewrites the entries uncompressed
	// Damage every cached entry: offline, the read fails (never wrong
	// data); online again, it reads from the mirror.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
		}
		return nil
	})
	if _, err := read(); err == nil {
		t.Fatal("an offline read of damaged cache entries succeeded")
	}
	root.Reset()
	if got, err := read(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the damage: %v", err)
	}
}

// An export reads what the cache holds but does not fill it: the tree it
// writes is the copy, and a whole tree would push out what the user reads
// every day. The exported file is right either way.
func TestExportLeavesCacheAlone(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("exported content "), 300000) // 5 MB, several chunks
	tv, root, c, _ := cachedVolume(t, data)
	export := func() []byte {
		t.Helper()
		out := t.TempDir()
		if err := tv.Export(ctx, tv.Tree(), "/", out, &volume.Progress{}); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(out, "f"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("exported file: %d bytes, %v", len(got), err)
		}
		return got
	}
	export()
	c.Wait()
	if c.Used() != 0 {
		t.Fatalf("the export cached %d bytes", c.Used())
	}
	// A read fills the cache; an export offline then reads from it.
	if _, err := tv.WriteTo(ctx, tv.Tree().Lookup("/f"), io.Discard); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	used := c.Used()
	if used == 0 {
		t.Fatal("the read cached nothing")
	}
	root.FailPrefix(faulty.Get, "", errors.E(errors.Unavailable, errors.Str("offline (test)")))
	export()
	c.Wait()
	if c.Used() != used {
		t.Fatalf("the export changed the cache: %d bytes, then %d", used, c.Used())
	}
}

// With SetCachePromotion, the compressed chunks a read fetched from a
// mirror are rewritten uncompressed in the cache once reads pause, and
// read back the same.
func TestCachePromotion(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("compressible content "), 300000) // 6 MB, several chunks
	tv, root, c, _ := cachedVolume(t, data)
	tv.SetCachePromotion(true)
	p := make([]byte, len(data))
	if n, err := tv.ReadAt(ctx, tv.Tree().Lookup("/f"), p, 0); n != len(data) || !bytes.Equal(p, data) {
		t.Fatalf("first read: %d bytes, %v", n, err)
	}
	c.Wait()
	if packed := c.Used(); packed == 0 || packed > int64(len(data))/10 {
		t.Fatalf("the first read cached %d bytes of %d compressible ones", packed, len(data))
	}
	// Polling for the background work to show, with a deadline.
	deadline := time.Now().Add(20 * time.Second)
	for c.Used() < int64(len(data)) {
		if time.Now().After(deadline) {
			t.Fatalf("the cache still holds %d bytes, compressed, after 20 s", c.Used())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Wait()
	root.FailPrefix(faulty.Get, "", errors.E(errors.Unavailable, errors.Str("offline (test)")))
	clear(p)
	if n, err := tv.ReadAt(ctx, tv.Tree().Lookup("/f"), p, 0); n != len(data) || !bytes.Equal(p, data) {
		t.Fatalf("read of the promoted chunks, offline: %d bytes, %v", n, err)
	}
}

// A read that starts at a chunk's start and has room for whole chunks
// (the mount's windows) opens them straight into its buffer: from the
// mirror, from the cache as fetched (compressed), and from the cache
// rewritten uncompressed. The bytes are right each time and nothing is
// written past the buffer, though its capacity goes on.
func TestReadAtWholeChunks(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("compressible content "), 200000)
	noise := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{3}).Read(noise)
	data = append(data, noise...) // chunks that do not compress
	tv, root, c, _ := cachedVolume(t, data)
	n := tv.Tree().Lookup("/f")
	if len(n.Chunks) < 4 {
		t.Fatalf("want a file of several chunks, got %d", len(n.Chunks))
	}
	check := func(pass string) {
		t.Helper()
		var off int64
		for i := 0; i < len(n.Chunks); {
			// Two chunks at a time, or the last one.
			j := min(i+2, len(n.Chunks))
			var size int64
			for _, ch := range n.Chunks[i:j] {
				size += int64(ch.Size)
			}
			backing := bytes.Repeat([]byte{0xA5}, int(size)+4096)
			p := backing[:size]
			k, err := tv.ReadAt(ctx, n, p, off)
			if int64(k) != size || !bytes.Equal(p, data[off:off+size]) || (err != nil && err != io.EOF) {
				t.Fatalf("%s: ReadAt(chunks %d–%d) = %d bytes, %v; or wrong bytes", pass, i, j, k, err)
			}
			if bytes.Count(backing[size:], []byte{0xA5}) != 4096 {
				t.Fatalf("%s: ReadAt(chunks %d–%d) wrote past its buffer", pass, i, j)
			}
			off += size
			i = j
		}
	}
	check("from the mirror")
	c.Wait()
	root.FailPrefix(faulty.Get, "", errors.E(errors.Unavailable, errors.Str("offline (test)")))
	check("from the cache")
	c.Wait() // rewritten uncompressed
	check("from the cache, uncompressed")
}
