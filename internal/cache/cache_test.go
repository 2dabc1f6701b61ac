package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/dvpc"
)

func id(b byte) dvpc.ChunkID { return dvpc.ChunkID{b, 1, 2, 3} }

func TestCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(id(1), 7, []byte("sealed one"))
	c.Wait()
	got, gen, ok := c.Get(nil, id(1))
	if !ok || gen != 7 || string(got) != "sealed one" {
		t.Fatalf("Get: %q %d %v", got, gen, ok)
	}
	if _, _, ok := c.Get(nil, id(2)); ok {
		t.Fatal("Get of a chunk never put")
	}
	// Another process, or the next run, finds it.
	c2, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, ok := c2.Get(nil, id(1)); !ok || string(got) != "sealed one" {
		t.Fatalf("after reopening: %q %v", got, ok)
	}
	if c2.Used() != int64(header+len("sealed one")) {
		t.Fatalf("used %d", c2.Used())
	}
	c2.Drop(id(1))
	if _, _, ok := c2.Get(nil, id(1)); ok || c2.Used() != 0 {
		t.Fatal("a dropped entry is still there")
	}
}

// Past its limit the cache drops the least recently used entries, never
// one that is kept; the order of use survives a reopening.
func TestCacheEvicts(t *testing.T) {
	dir := t.TempDir()
	entry := bytes.Repeat([]byte{9}, 1000-header) // 1000 bytes an entry
	c, err := Open(dir, 3000)
	if err != nil {
		t.Fatal(err)
	}
	c.Keep(func(x dvpc.ChunkID) bool { return x == id(1) })
	for b := byte(1); b <= 3; b++ {
		c.Put(id(b), 1, entry)
	}
	c.Wait()
	c.Get(nil, id(2)) // 3 is now the least recently used, after 1 (kept)
	c.Put(id(4), 1, entry)
	c.Wait()
	if !c.Has(id(1)) || !c.Has(id(2)) || c.Has(id(3)) || !c.Has(id(4)) {
		t.Fatalf("after eviction: 1 %v 2 %v 3 %v 4 %v", c.Has(id(1)), c.Has(id(2)), c.Has(id(3)), c.Has(id(4)))
	}
	if c.Used() > 3000 {
		t.Fatalf("used %d over the limit", c.Used())
	}
	if _, err := os.Stat(c.path(id(3))); !os.IsNotExist(err) {
		t.Fatalf("the evicted entry's file: %v", err)
	}
	// Reopened smaller, the oldest goes first: 1 is the oldest put.
	old := time.Now().Add(-time.Hour)
	os.Chtimes(c.path(id(1)), old, old)
	c2, err := Open(dir, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Has(id(1)) || c2.Used() != 2000 {
		t.Fatalf("reopened at 2000 bytes: has 1 %v, used %d", c2.Has(id(1)), c2.Used())
	}
}

// What a crash leaves: a half-written temporary file, a file of another
// name; Open sweeps the first and ignores the second.
func TestCacheCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "chunks", "ab")
	os.MkdirAll(sub, 0o700)
	os.WriteFile(filepath.Join(sub, ".tmp-123"), []byte("half"), 0o600)
	os.WriteFile(filepath.Join(sub, "not-a-chunk"), []byte("x"), 0o600)
	c, err := Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if c.Used() != 0 {
		t.Fatalf("used %d", c.Used())
	}
	if _, err := os.Stat(filepath.Join(sub, ".tmp-123")); !os.IsNotExist(err) {
		t.Fatal("the temporary file was not swept")
	}
}
