package volume

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvpc/dvpc/internal/dvpc"
)

// A chunk read from a mirror goes into the cache as its pack holds it,
// compressed if it was: sealing it again uncompressed on the read's path
// took a tenth off a first read. A second read rewrites it uncompressed
// (readCached), but in a mount the kernel's page cache serves the second
// read, so that rewrite rarely comes, and once the page cache has let the
// file go, reading it from this PC's cache was bound by zstd (282 MB/s on
// the bench file, where an uncompressed entry reads at about 900). With
// SetCachePromotion, the chunks a read fetched are rewritten uncompressed
// in the background once reads have paused for promoteIdle, off the path
// of the reads.
const (
	promoteIdle = 500 * time.Millisecond
	promoteMax  = 1 << 16 // chunks waiting; more are left as they are
)

type promoter struct {
	on      atomic.Bool // read without mu on every read from a mirror
	mu      sync.Mutex
	queue   []promo
	last    time.Time // of the newest read that queued chunks
	running bool
}

type promo struct {
	id  dvpc.ChunkID
	gen uint32
}

// SetCachePromotion turns on the background rewriting of the chunks read
// from a mirror into their uncompressed form in the cache. A mount turns
// it on; a command that reads once and ends does not need it.
func (v *Volume) SetCachePromotion(on bool) { v.promo.on.Store(on) }

// promoteLater queues chunks just put in the cache as their pack held them.
func (v *Volume) promoteLater(ps []promo) {
	p := &v.promo
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = time.Now()
	p.queue = append(p.queue, ps[:min(len(ps), promoteMax-len(p.queue))]...)
	if !p.running && len(p.queue) > 0 {
		p.running = true
		go v.promoteLoop()
	}
}

// promoteLoop rewrites the queued chunks, one at a time, while no read has
// queued more for promoteIdle; it ends when the queue is empty.
func (v *Volume) promoteLoop() {
	p := &v.promo
	t := time.NewTimer(promoteIdle)
	defer t.Stop()
	var buf, plain, seal []byte
	for {
		p.mu.Lock()
		if wait := promoteIdle - time.Since(p.last); wait > 0 {
			p.mu.Unlock()
			t.Reset(wait)
			<-t.C
			continue
		}
		if len(p.queue) == 0 {
			p.queue, p.running = nil, false
			p.mu.Unlock()
			return
		}
		c := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()
		buf, plain, seal = v.promote(c, buf, plain, seal)
	}
}

// promote rewrites one cached chunk uncompressed if it is compressed, and
// drops it if it does not open. It returns its buffers for the next.
func (v *Volume) promote(c promo, buf, plain, seal []byte) ([]byte, []byte, []byte) {
	cache := v.chunkCache()
	if cache == nil {
		return buf, plain, seal
	}
	sealed, gen, ok := cache.Get(buf, c.id)
	if !ok {
		return buf, plain, seal
	}
	if cap(sealed) > cap(buf) {
		buf = sealed[:0]
	}
	codec, err := v.codecFor(gen)
	if err != nil {
		return buf, plain, seal
	}
	out, compressed, err := codec.OpenVerified(plain[:0], c.id, sealed)
	if err != nil {
		cache.Drop(c.id)
		return buf, plain, seal
	}
	if compressed {
		if cap(out) > cap(plain) {
			plain = out[:0]
		}
		seal = codec.SealPlain(seal[:0], c.id, out)
		cache.Replace(c.id, gen, seal) // a copy
	}
	return buf, plain, seal
}
