// Package cache keeps sealed chunks on this PC's disk, so that what was
// read or written once reads again without a mirror: fast, and offline.
//
// An entry is a chunk sealed as in a pack (uncompressed, so that a cached
// read pays only for the cipher), named by its chunk id (a keyed hash that
// tells an outsider nothing) and opened only with the volume's key: the
// cache holds no plaintext and no names. It is
// bounded: past its limit the least recently used entries go, except those
// the caller keeps (the chunks of pinned files). Nothing in it is the only
// copy of anything: chunks not yet on the mirrors are in the stage and the
// outbox, never only here. A damaged entry is found by the reader (its
// AEAD fails), which drops it and reads from a mirror.
//
// Entries are files chunks/<2 hex>/<64 hex>, written to a temporary name
// and renamed, so a crash leaves whole entries or none, and two processes
// (a mount and a 'dvpc pin') may add to one cache at once. The format of
// an entry is in docs/FORMAT.md ("The cache").
package cache

import (
	"container/list"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
)

// Cache is a bounded cache of sealed chunks. It is safe for concurrent
// use.
type Cache struct {
	dir   string
	limit int64

	startWriter sync.Once
	puts        chan put       // to the writer
	pending     sync.WaitGroup // puts not yet written

	spare   sync.Pool    // of *[]byte: buffers the writer is done with
	largest atomic.Int64 // the largest buffer a Put has needed

	mu      sync.Mutex
	entries map[dvpc.ChunkID]*list.Element // of *entry
	lru     *list.List                     // front: most recently used
	used    int64
	keep    func(dvpc.ChunkID) bool
}

type entry struct {
	id   dvpc.ChunkID
	size int64
}

// header is what an entry has before the sealed chunk: the key generation
// that sealed it.
const header = 4

// Open opens the cache in dir, bounded to limit bytes, taking up the
// entries already there (the least recently used by their file times).
func Open(dir string, limit int64) (*Cache, error) {
	const op errors.Op = "cache.Open"
	c := &Cache{dir: dir, limit: limit, entries: map[dvpc.ChunkID]*list.Element{}, lru: list.New()}
	if err := os.MkdirAll(filepath.Join(dir, "chunks"), 0o700); err != nil {
		return nil, errors.E(op, errors.IO, err)
	}
	type found struct {
		e    entry
		used time.Time
	}
	var all []found
	err := filepath.WalkDir(filepath.Join(dir, "chunks"), func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		name := de.Name()
		if strings.HasPrefix(name, ".tmp-") {
			os.Remove(p) // a write a crash cut short
			return nil
		}
		id, ok := parseID(name)
		if !ok {
			return nil
		}
		fi, err := de.Info()
		if err != nil {
			return nil
		}
		all = append(all, found{entry{id, fi.Size()}, fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, errors.E(op, errors.IO, err)
	}
	// Oldest at the back.
	sort.Slice(all, func(i, j int) bool { return all[i].used.After(all[j].used) })
	for _, f := range all {
		e := f.e
		c.entries[e.id] = c.lru.PushBack(&e)
		c.used += e.size
	}
	c.evict()
	return c, nil
}

func parseID(name string) (dvpc.ChunkID, bool) {
	var id dvpc.ChunkID
	if len(name) != 2*len(id) {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(name)); err != nil {
		return id, false
	}
	return id, true
}

func (c *Cache) path(id dvpc.ChunkID) string {
	s := hex.EncodeToString(id[:])
	return filepath.Join(c.dir, "chunks", s[:2], s)
}

// Get returns the sealed chunk id, read into buf's storage when it is
// large enough, and the key generation that sealed it, if the cache holds
// it.
func (c *Cache) Get(buf []byte, id dvpc.ChunkID) ([]byte, uint32, bool) {
	c.mu.Lock()
	el, ok := c.entries[id]
	if ok {
		c.lru.MoveToFront(el)
	}
	c.mu.Unlock()
	if !ok {
		return nil, 0, false
	}
	b, err := readFile(buf, c.path(id))
	if err != nil || len(b) < header {
		c.Drop(id) // gone (another process evicted it) or cut short
		return nil, 0, false
	}
	now := time.Now()
	os.Chtimes(c.path(id), now, now) // the order of use survives a restart
	return b[header:], binary.BigEndian.Uint32(b), true
}

// readFile reads the file at p into buf's storage, grown as needed.
func readFile(buf []byte, p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := int(st.Size())
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Has reports whether the cache holds chunk id.
func (c *Cache) Has(id dvpc.ChunkID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.entries[id]
	return ok
}

// Put adds a sealed chunk, sealed under key generation gen, in the
// background: a reader does not wait for the cache's disk unless 16
// writes wait already. A failure to write (a full disk) only means the
// chunk is not cached. Wait waits until what was put is written. Put
// copies sealed, into a buffer the writer gives back when it is done: the
// caller may reuse sealed at once, and a first read of a large file
// reuses a few warm buffers instead of faulting in fresh ones for each
// span.
func (c *Cache) Put(id dvpc.ChunkID, gen uint32, sealed []byte) {
	c.mu.Lock()
	_, ok := c.entries[id]
	c.mu.Unlock()
	if ok {
		return
	}
	c.startWriter.Do(func() {
		c.puts = make(chan put, 16)
		go func() {
			for p := range c.puts {
				c.write(p.id, *p.buf)
				c.spare.Put(p.buf)
				c.pending.Done()
			}
		}()
	})
	bp := c.take(header + len(sealed))
	buf := *bp
	binary.BigEndian.PutUint32(buf, gen)
	copy(buf[header:], sealed)
	c.pending.Add(1)
	c.puts <- put{id, bp}
}

// spareMost bounds the room take gives a buffer beyond what it needs: the
// default chunks (2 MiB at most, sealed) fit, and a volume of larger
// chunks does not make every small Put take a large buffer.
const spareMost = 4 << 20

// take returns a buffer of n bytes, a spare one if it is large enough.
// Buffers are made as large as the largest Put so far (up to spareMost),
// so that a spare serves any chunk of a volume; the spares go at the next
// collections, as a sync.Pool's do, and the writer's queue bounds how
// many are out.
func (c *Cache) take(n int) *[]byte {
	big := int(c.largest.Load())
	if n > big && n <= spareMost {
		c.largest.CompareAndSwap(int64(big), int64(n))
		big = n
	}
	big = max(big, n)
	if bp, _ := c.spare.Get().(*[]byte); bp != nil && cap(*bp) >= n {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, big)
	return &b
}

// Replace puts a new form of chunk id (the same plaintext, sealed anew),
// in the background, whether or not the cache holds it.
func (c *Cache) Replace(id dvpc.ChunkID, gen uint32, sealed []byte) {
	c.Drop(id)
	c.Put(id, gen, sealed)
}

// Wait waits for the chunks being written.
func (c *Cache) Wait() { c.pending.Wait() }

type put struct {
	id  dvpc.ChunkID
	buf *[]byte // the entry: header, then the sealed chunk
}

// write writes one entry, buf: its header and its sealed chunk.
func (c *Cache) write(id dvpc.ChunkID, buf []byte) {
	p := c.path(id)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return
	}
	_, err = f.Write(buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; ok {
		return
	}
	e := &entry{id, int64(len(buf))}
	c.entries[id] = c.lru.PushFront(e)
	c.used += e.size
	c.evict()
}

// Drop removes chunk id, when a reader found it damaged.
func (c *Cache) Drop(id dvpc.ChunkID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[id]; ok {
		c.remove(el)
	}
}

func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	os.Remove(c.path(e.id))
	c.lru.Remove(el)
	delete(c.entries, e.id)
	c.used -= e.size
}

// evict removes the least recently used entries that are not kept until
// the cache is within its limit; c.mu is held.
func (c *Cache) evict() {
	for el := c.lru.Back(); el != nil && c.used > c.limit; {
		prev := el.Prev()
		if e := el.Value.(*entry); c.keep == nil || !c.keep(e.id) {
			c.remove(el)
		}
		el = prev
	}
}

// Keep sets which chunks are never evicted (the chunks of pinned files),
// and evicts what is over the limit.
func (c *Cache) Keep(keep func(dvpc.ChunkID) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep = keep
	c.evict()
}

// Used returns the bytes the cache holds; Limit its bound.
func (c *Cache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// Limit returns the cache's bound in bytes.
func (c *Cache) Limit() int64 { return c.limit }

// DefaultLimit is the bound of a cache in dir when the user sets none: a
// tenth of the disk that holds it, at least 1 GiB.
func DefaultLimit(dir string) int64 {
	size := diskSize(dir)
	return max(size/10, 1<<30)
}

func parent(dir string) string { return filepath.Dir(dir) }
