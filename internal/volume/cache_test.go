package volume_test

import (
	"bytes"
	"context"
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
