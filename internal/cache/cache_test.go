package cache

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
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

// Put copies what it is given: a caller that reuses its buffer at once
// (a reader's span, the next chunk) leaves each entry its own bytes. The
// writer's buffers serve the next Puts.
func TestCachePutCopies(t *testing.T) {
	c, err := Open(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256<<10)
	const n = 200
	for i := range n {
		for j := range buf {
			buf[j] = byte(i + j)
		}
		c.Put(id(byte(i)), uint32(i), buf)
		buf[0], buf[len(buf)-1] = ^buf[0], ^buf[len(buf)-1] // reused at once
	}
	c.Wait()
	for i := range n {
		got, gen, ok := c.Get(nil, id(byte(i)))
		if !ok || gen != uint32(i) || len(got) != len(buf) {
			t.Fatalf("entry %d: %v, gen %d, %d bytes", i, ok, gen, len(got))
		}
		for j := range got {
			if got[j] != byte(i+j) {
				t.Fatalf("entry %d holds another's bytes (or the caller's later ones) at %d", i, j)
			}
		}
	}
	// A spare is reused: a Put of the same size allocates little beyond
	// its file's name, far less than the chunk. (Not under the race
	// detector, whose sync.Pool drops a share of the spares on purpose.)
	if raceEnabled {
		return
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const rounds = 20
	for i := range rounds {
		fresh := dvpc.ChunkID{byte(i), 9} // in no entry yet
		c.Put(fresh, 1, buf)
		c.Wait()
		c.Drop(fresh)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / rounds; per > uint64(len(buf))/4 {
		t.Fatalf("a Put allocated %d bytes, for a chunk of %d", per, len(buf))
	}
}

// A chunk larger than spareMost does not make the buffers of later Puts
// that large.
func TestCacheSpareBound(t *testing.T) {
	c, err := Open(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	c.Put(id(1), 1, make([]byte, 1<<20))
	c.Put(id(2), 1, make([]byte, 16<<20))
	c.Wait()
	if got := c.largest.Load(); got != header+1<<20 {
		t.Fatalf("buffers are made %d bytes large after a chunk of 16 MiB, want %d", got, header+1<<20)
	}
}
