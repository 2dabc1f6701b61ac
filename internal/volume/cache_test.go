package volume_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/cache"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/volume"
)

// A file read once reads again with the mirror out of reach, from the
// cache; a damaged cache entry is never returned: the read goes to the
// mirror again.
func TestCacheServesOffline(t *testing.T) {
	ctx := context.Background()
	root := faulty.New(mem.New())
	tv := volume.NewTest(t, root, "pc", nil)
	data := bytes.Repeat([]byte("cached content "), 300000) // 4.5 MB, several chunks
	local := filepath.Join(t.TempDir(), "f")
	os.WriteFile(local, data, 0o644)
	if err := tv.PutFile(ctx, local, "/f"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := cache.Open(dir, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	tv.SetCache(c)
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
