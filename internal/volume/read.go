package volume

import (
	"context"
	"io"
	"sync"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/pack"
)

// maxSpan bounds one ranged read that covers several chunks of a pack.
const maxSpan = 8 << 20

// WriteTo writes the content of the file node n to out, verifying every
// chunk. A chunk that is missing from the index or the mirror, or that
// fails to verify, is an error naming the chunk and the file; no byte of a
// bad chunk reaches out.
//
// The next span of chunks is read, opened and verified while the last is
// written to out, in buffers of its own: a reader at the end of a pipe
// (`dvpc cat FILE | ...`) then costs no time of the mirror's, nor the
// mirror of the reader's.
func (v *Volume) WriteTo(ctx context.Context, n *Node, out io.Writer) (int64, error) {
	const op errors.Op = "volume.Read"
	bp := readBufs.Get().(*readBuf)
	defer readBufs.Put(bp)
	if len(n.Chunks) < 2 {
		return v.writeWith(ctx, bp, n, out, true)
	}
	ahead := readBufs.Get().(*readBuf)
	defer readBufs.Put(ahead)
	type part struct {
		plain []byte
		k     int
		err   error
	}
	read := func(b *readBuf, chunks []journal.ChunkRef) part {
		plain, k, err := v.appendChunks(ctx, b, chunks, b.plain[:0], true)
		if cap(plain) > cap(b.plain) {
			b.plain = plain[:0]
		}
		return part{plain, k, err}
	}
	var written int64
	chunks := n.Chunks
	cur := read(bp, chunks)
	for {
		if cur.err != nil {
			return written, errors.E(op, n.Path, cur.err)
		}
		chunks = chunks[cur.k:]
		var next chan part
		if len(chunks) > 0 {
			next = make(chan part, 1)
			b, rest := ahead, chunks
			go func() { next <- read(b, rest) }()
		}
		w, err := out.Write(cur.plain)
		written += int64(w)
		if err != nil {
			if next != nil {
				<-next // it reads into ahead, which goes back to the pool
			}
			return written, errors.E(op, errors.IO, err)
		}
		if next == nil {
			return written, nil
		}
		cur = <-next
		bp, ahead = ahead, bp
	}
}

// writeWith is WriteTo with the caller's buffers: a reader that keeps
// them from one part to the next reuses them (a pool is emptied at each
// collection). fill says whether the chunks read from a mirror go into
// this PC's cache. A bulk copy out (export) does not fill it: what it
// writes is the copy, and a cache filled with a whole tree would evict
// what the user reads every day.
func (v *Volume) writeWith(ctx context.Context, bp *readBuf, n *Node, out io.Writer, fill bool) (int64, error) {
	const op errors.Op = "volume.Read"
	var written int64
	chunks := n.Chunks
	for len(chunks) > 0 {
		plain, k, err := v.appendChunks(ctx, bp, chunks, bp.plain[:0], fill)
		if cap(plain) > cap(bp.plain) {
			bp.plain = plain[:0]
		}
		if err != nil {
			return written, errors.E(op, n.Path, err)
		}
		w, err := out.Write(plain)
		written += int64(w)
		if err != nil {
			return written, errors.E(op, errors.IO, err)
		}
		chunks = chunks[k:]
	}
	return written, nil
}

// appendChunks appends the plaintext of the leading chunks to dst: one
// chunk from the stage or this PC's cache, or the chunks that one ranged
// get of a pack covers. It returns how many chunks it appended. A chunk
// opens straight into dst when dst has room for it: a reader that sizes
// its buffer to whole chunks (the mount's windows) pays for no copy.
// With fill, what is read from a mirror goes into the cache too.
func (v *Volume) appendChunks(ctx context.Context, bp *readBuf, chunks []journal.ChunkRef, dst []byte, fill bool) ([]byte, int, error) {
	if plain, ok, err := v.readStaged(dst, chunks[0]); ok {
		if err != nil {
			return dst, 0, err
		}
		return plain, 1, nil
	}
	if plain, ok := v.readCached(bp, dst, chunks[0], fill); ok {
		return plain, 1, nil
	}
	locs, err := v.locate(chunks)
	if err != nil {
		return dst, 0, err
	}
	span := len(locs)
	first, last := locs[0], locs[span-1]
	size := int(last.Offset + last.Length - first.Offset)
	cache := v.chunkCache()
	if !fill {
		cache = nil
	}
	// The span is read into bp.raw, kept from one span to the next. With
	// a cache, whose Put copies the sealed chunks, they are opened out of
	// place (into bp.body), so that raw still holds them; without one, in
	// place.
	bp.raw = grow(bp.raw, size)
	raw := bp.raw
	if cache != nil {
		var most int64
		for _, l := range locs {
			most = max(most, int64(l.Length))
		}
		if int64(cap(bp.body)) < most {
			bp.body = make([]byte, 0, most+most/2) // not grown chunk by chunk
		}
	}
	// The span is opened whole before the caller sees a byte of it: a
	// mirror set tries another copy when one fails to open. dst grows
	// once to hold it: grown chunk by chunk, the decoder would copy it
	// over at each (a tenth of an export's CPU).
	var plain int
	for _, c := range chunks[:span] {
		plain += int(c.Size)
	}
	if cap(dst)-len(dst) < plain {
		// Not slices.Grow: it copies the old capacity, not just dst.
		dst = append(make([]byte, 0, len(dst)+plain), dst...)
	}
	start := len(dst)
	_, err = blob.ReadVerified(ctx, v.store, packName(first.Pack), raw, int64(first.Offset), func(raw []byte) error {
		dst = dst[:start]
		for i := 0; i < span; i++ {
			l := locs[i]
			lo := int(l.Offset - first.Offset)
			if lo+int(l.Length) > len(raw) {
				return errors.E(errors.Corrupt, errors.Str("pack "+l.Pack.String()+" is shorter than its index says"))
			}
			codec, err := v.codecFor(l.Gen)
			if err != nil {
				return errors.E("pack "+packName(l.Pack), err)
			}
			at := len(dst)
			sealed := raw[lo : lo+int(l.Length)]
			if cache != nil {
				dst, bp.body, err = codec.OpenTo(dst, bp.body, chunks[i].ID, sealed)
			} else {
				dst, err = codec.Open(dst, chunks[i].ID, sealed)
			}
			if err != nil {
				return errors.E("pack "+packName(l.Pack), err)
			}
			if len(dst)-at != int(chunks[i].Size) {
				return errors.E(errors.Corrupt, errors.Str("chunk size differs from the journal"))
			}
		}
		return nil
	})
	if err != nil {
		return dst[:start], 0, err
	}
	if cache != nil {
		// As they are in the pack: a first read pays for no sealing
		// (sealing them uncompressed took a tenth off a first read
		// here); a second read keeps them uncompressed (readCached),
		// and so does a mount in the background (promote.go).
		for i := 0; i < span; i++ {
			lo := int(locs[i].Offset - first.Offset)
			cache.Put(chunks[i].ID, locs[i].Gen, raw[lo:lo+int(locs[i].Length)])
		}
		if v.promo.on.Load() {
			ps := make([]promo, span)
			for i := range ps {
				ps[i] = promo{chunks[i].ID, locs[i].Gen}
			}
			v.promoteLater(ps)
		}
	}
	return dst, span, nil
}

// ChunkCache keeps sealed chunks on this PC (package cache is one).
type ChunkCache interface {
	// Get returns a sealed chunk, in buf's storage if it is large
	// enough, and the key generation that sealed it.
	Get(buf []byte, id dvpc.ChunkID) ([]byte, uint32, bool)
	// Put adds one; it may fail silently. It copies sealed: the caller
	// may reuse it on return.
	Put(id dvpc.ChunkID, gen uint32, sealed []byte)
	// Replace puts a new form of one (the same plaintext, sealed anew),
	// also a copy.
	Replace(id dvpc.ChunkID, gen uint32, sealed []byte)
	// Drop removes one found damaged.
	Drop(id dvpc.ChunkID)
}

// SetCache makes the volume keep the chunks it reads and commits in c,
// and read them from there first.
func (v *Volume) SetCache(c ChunkCache) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.cache = c
}

func (v *Volume) chunkCache() ChunkCache {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cache
}

// readCached reads chunk c from the cache and appends its plaintext to
// dst. A damaged entry is dropped, and the chunk read from a mirror. With
// fill, a compressed entry is replaced by its uncompressed form.
func (v *Volume) readCached(bp *readBuf, dst []byte, c journal.ChunkRef, fill bool) ([]byte, bool) {
	cache := v.chunkCache()
	if cache == nil {
		return dst, false
	}
	sealed, gen, ok := cache.Get(bp.raw[:0], c.ID)
	if !ok {
		return dst, false
	}
	if cap(sealed) > cap(bp.raw) {
		bp.raw = sealed[:0]
	}
	codec, err := v.codecFor(gen)
	if err == nil {
		// Only chunks whose id was checked go into the cache: the AEAD
		// suffices.
		plain, compressed, err := codec.OpenVerified(dst, c.ID, sealed)
		if err == nil && !compressed {
			plain = append(dst, plain...) // in sealed's storage
		}
		if err == nil && len(plain)-len(dst) == int(c.Size) {
			if compressed && fill {
				// Read a second time: kept uncompressed from now on, so
				// that the next reads pay only for the cipher.
				bp.seal = codec.SealPlain(bp.seal[:0], c.ID, plain[len(dst):])
				cache.Replace(c.ID, gen, bp.seal)
			}
			return plain, true
		}
	}
	cache.Drop(c.ID)
	return dst, false
}

// readStaged reads a chunk that is in the stage and in no index yet.
func (v *Volume) readStaged(dst []byte, c journal.ChunkRef) ([]byte, bool, error) {
	v.mu.Lock()
	s := v.stage
	v.mu.Unlock()
	if s == nil {
		return dst, false, nil
	}
	if _, ok := v.index.Lookup(c.ID); ok {
		return dst, false, nil
	}
	plain, ok, err := s.readChunk(dst, c.ID)
	if ok && err == nil && len(plain)-len(dst) != int(c.Size) {
		err = errors.E(errors.Corrupt, errors.Str("chunk size differs from the journal"))
	}
	return plain, ok, err
}

// readBuf holds the buffers of one reader: a span of a pack (or a cached
// chunk), a chunk's opened body, plaintext, and a chunk sealed anew for
// the cache.
type readBuf struct{ raw, body, plain, seal []byte }

var readBufs = sync.Pool{New: func() any { return new(readBuf) }}

// grow returns b resized to n bytes, reallocating only when it is too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// locate returns the locations of the leading chunks that can be read with
// one ranged get: consecutive in one pack.
func (v *Volume) locate(chunks []journal.ChunkRef) ([]pack.Location, error) {
	var locs []pack.Location
	var plain int64 // the span's plaintext, also bounded: zstd may expand a lot
	for i, c := range chunks {
		l, ok := v.index.Lookup(c.ID)
		if !ok {
			if i == 0 {
				return nil, errors.E(errors.NotExist, errors.Str("chunk "+c.ID.String()+" is in no index: the mirror lost it, or it was never uploaded"))
			}
			break
		}
		if i > 0 {
			prev := locs[i-1]
			if l.Pack != prev.Pack || l.Offset != prev.Offset+prev.Length || l.Offset+l.Length-locs[0].Offset > maxSpan || plain+int64(c.Size) > maxSpan {
				break
			}
		}
		locs = append(locs, l)
		plain += int64(c.Size)
	}
	return locs, nil
}

// ReadAt reads len(p) bytes of the file node n from offset off into p,
// verifying every chunk it touches (a chunk is opened whole). It returns
// fewer than len(p) bytes only at the end of the file, then with io.EOF,
// or with an error.
func (v *Volume) ReadAt(ctx context.Context, n *Node, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.E(errors.Op("volume.ReadAt"), errors.Invalid, n.Path, errors.Str("negative offset"))
	}
	if off >= int64(n.Size) {
		return 0, io.EOF
	}
	// The chunks that hold [off, off+len(p)).
	var start int64
	first := 0
	for first < len(n.Chunks) && start+int64(n.Chunks[first].Size) <= off {
		start += int64(n.Chunks[first].Size)
		first++
	}
	last, end := first, start
	for last < len(n.Chunks) && end < off+int64(len(p)) {
		end += int64(n.Chunks[last].Size)
		last++
	}
	chunks := n.Chunks[first:last]
	if off == start && end <= off+int64(len(p)) {
		// The read starts at a chunk's start and has room for every chunk
		// it touches: they open straight into p.
		return v.readChunks(ctx, n.Path, chunks, p)
	}
	part := &Node{Path: n.Path, Change: Change{Device: n.Device, Entry: &journal.Entry{Chunks: chunks}}}
	w := &window{p: p, skip: off - start}
	if _, err := v.WriteTo(ctx, part, w); err != nil {
		return w.n, err
	}
	if w.n < len(p) {
		return w.n, io.EOF
	}
	return w.n, nil
}

// readChunks reads chunks, which fit in p, into p.
func (v *Volume) readChunks(ctx context.Context, path string, chunks []journal.ChunkRef, p []byte) (int, error) {
	bp := readBufs.Get().(*readBuf)
	defer readBufs.Put(bp)
	// Capped at p: a chunk longer than the journal says is appended
	// elsewhere and refused, and chunks of the right sizes fit.
	dst := p[:0:len(p)]
	for len(chunks) > 0 {
		var k int
		var err error
		dst, k, err = v.appendChunks(ctx, bp, chunks, dst, true)
		if err != nil {
			return len(dst), errors.E(errors.Op("volume.ReadAt"), path, err)
		}
		chunks = chunks[k:]
	}
	if len(dst) < len(p) {
		return len(dst), io.EOF
	}
	return len(dst), nil
}

// window is a writer that drops the first skip bytes and keeps the next
// len(p) in p.
type window struct {
	p    []byte
	skip int64
	n    int
}

func (w *window) Write(b []byte) (int, error) {
	all := len(b)
	if w.skip > 0 {
		k := min(int64(len(b)), w.skip)
		b, w.skip = b[k:], w.skip-k
	}
	w.n += copy(w.p[w.n:], b)
	return all, nil
}
