package chunk

import (
	"fmt"
	"io"
)

// firstBuf is the size of a new Chunker's buffer; it grows to twice Max only
// for streams that need it, so chunking many small files stays cheap.
const firstBuf = 64 << 10

// maxEmptyReads is how many reads in a row may return no bytes and no error
// before Next gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// Chunker cuts a stream into chunks. It is not safe for concurrent use;
// give each goroutine its own, and Reset it between files.
type Chunker struct {
	r     io.Reader
	gear  Gear
	p     Params
	buf   []byte // buf[start:end] is read and not yet returned
	start int
	end   int
	eof   bool  // r has returned io.EOF
	err   error // sticky: a read error, returned by every later Next
}

// New returns a Chunker that reads r and cuts it with the gear table derived
// from gearKey (see NewGear). It panics if p is not valid: check Params read
// from a volume config with Validate first.
func New(r io.Reader, gearKey [32]byte, p Params) *Chunker {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("chunk.New: %v", err))
	}
	c := &Chunker{r: r, gear: *NewGear(gearKey), p: p}
	c.buf = make([]byte, min(firstBuf, 2*int(p.Max)))
	return c
}

// Reset makes c read r from the start, as a new Chunker with the same key
// and Params would, keeping c's buffer.
func (c *Chunker) Reset(r io.Reader) {
	c.r = r
	c.start, c.end = 0, 0
	c.eof, c.err = false, nil
}

// Next returns the next chunk. The chunk is valid until the next call to
// Next or Reset. At the end of the stream Next returns io.EOF. If reading
// fails, Next returns the reader's error, then and on every later call;
// chunks returned before it were cut as they would have been had the read
// succeeded, and the bytes after them are lost.
func (c *Chunker) Next() ([]byte, error) {
	if c.err == nil && !c.eof && c.end-c.start < int(c.p.Max) {
		c.fill()
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.start == c.end {
		return nil, io.EOF
	}
	n := Cut(c.buf[c.start:c.end], &c.gear, c.p)
	chunk := c.buf[c.start : c.start+n : c.start+n]
	c.start += n
	return chunk, nil
}

// fill moves the unreturned bytes to the front of the buffer and reads until
// the buffer is full, growing it up to twice Max, or the stream ends.
// Filling the whole buffer, not just up to Max, keeps the moving rare: at
// most one byte moved for every byte read.
func (c *Chunker) fill() {
	c.end = copy(c.buf, c.buf[c.start:c.end])
	c.start = 0
	empty := 0
	for !c.eof && c.err == nil {
		if c.end == len(c.buf) {
			if len(c.buf) >= 2*int(c.p.Max) {
				return
			}
			c.grow()
		}
		n, err := c.r.Read(c.buf[c.end:])
		c.end += n
		switch {
		case err == io.EOF:
			c.eof = true
		case err != nil:
			c.err = err
		case n > 0:
			empty = 0
		default:
			if empty++; empty >= maxEmptyReads {
				c.err = io.ErrNoProgress
			}
		}
	}
}

// grow doubles the buffer, up to twice Max.
func (c *Chunker) grow() {
	buf := make([]byte, min(2*len(c.buf), 2*int(c.p.Max)))
	copy(buf, c.buf[:c.end])
	c.buf = buf
}
