package blob

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/dvpc/dvpc/internal/errors"
)

// SpillSize is how many bytes a Spool keeps in memory before it moves
// them to a temporary file: small objects (segments, indexes) never touch
// the disk, and a pack is never held in memory.
const SpillSize = 4 << 20

// A spool's buffers are reused: made for each object, the memory buffer
// grew by copying to SpillSize and the file's buffer took 1 MiB more, 8
// MiB of fresh memory a pack, which an upload of the bench corpus to a
// server paid with 0.7 s of CPU (copies and page faults).
var (
	memBufs   = sync.Pool{New: func() any { b := make([]byte, 0, SpillSize); return &b }}
	spillBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}
)

// poolFrom is the size past which a spool's bytes move to a pooled
// buffer: a small object (a segment, an index) grows its own, and does not
// hold SpillSize of heap for a few kilobytes.
const poolFrom = 64 << 10

// putMem gives a pooled memory buffer back, unless Body lent it: an HTTP
// transport may read a request's body after the request has returned.
func (s *Spool) putMem() {
	if cap(s.mem) >= SpillSize && !s.lent {
		b := s.mem
		memBufs.Put(&b)
	}
	s.mem = nil
}

// Spool holds an object being written for a store that uploads it on
// Commit (a server, S3): in memory while small, in a temporary file past
// SpillSize, hashed as it comes. Such a store's ObjectWriter embeds one
// and adds Commit.
type Spool struct {
	dir, pattern string // where and how temporary files are made
	h            hash.Hash
	n            int64
	mem          []byte        // the bytes, until they pass SpillSize
	lent         bool          // Body returned a reader of mem
	f            *os.File      // then the file that holds them
	bw           *bufio.Writer // buffering writes to f
	err          error         // the first error, returned from then on
}

// NewSpool returns an empty spool whose temporary file, if it needs one,
// is made in dir (os.TempDir() if "") with the os.CreateTemp pattern.
func NewSpool(dir, pattern string) *Spool {
	return &Spool{dir: dir, pattern: pattern, h: sha256.New()}
}

func (s *Spool) Write(p []byte) (int, error) {
	const op errors.Op = "blob.Spool"
	if s.err != nil {
		return 0, s.err
	}
	if s.f == nil && len(s.mem)+len(p) > SpillSize {
		f, err := os.CreateTemp(s.dir, s.pattern)
		if err != nil {
			s.err = errors.E(op, errors.IO, err)
			return 0, s.err
		}
		s.f, s.bw = f, spillBufs.Get().(*bufio.Writer)
		s.bw.Reset(f)
		if _, err := s.bw.Write(s.mem); err != nil {
			s.err = errors.E(op, errors.IO, f.Name(), err)
			return 0, s.err
		}
		s.putMem()
	}
	if s.h != nil {
		s.h.Write(p)
	}
	s.n += int64(len(p))
	if s.f == nil {
		if len(s.mem)+len(p) > poolFrom && cap(s.mem) < SpillSize {
			s.mem = append((*memBufs.Get().(*[]byte))[:0], s.mem...)
		}
		s.mem = append(s.mem, p...)
		return len(p), nil
	}
	if _, err := s.bw.Write(p); err != nil {
		s.err = errors.E(op, errors.IO, s.f.Name(), err)
		return 0, s.err
	}
	return len(p), nil
}

// Len is how many bytes were written.
func (s *Spool) Len() int64 { return s.n }

// Sum is the SHA-256 of the bytes written; zero after Unhash.
func (s *Spool) Sum() [32]byte {
	var sum [32]byte
	if s.h != nil {
		s.h.Sum(sum[:0])
	}
	return sum
}

// Unhash, before the first Write, stops the spool hashing what it is
// given: its owner hashes the same bytes (a mirror set's writer), and
// passes that sum to CheckSummed.
func (s *Spool) Unhash() {
	if s.n == 0 {
		s.h = nil
	}
}

// Check returns what stops a Commit under name before it uploads: an
// earlier write error, or bytes that do not match the hash the name
// promises. It reports whether the name promises one.
func (s *Spool) Check(op errors.Op, name string) (hashed bool, err error) {
	return s.CheckSummed(op, name, s.Sum())
}

// CheckSummed is Check with sum, the SHA-256 of the bytes written as the
// spool's owner computed it; a spool that hashes also checks it against
// its own.
func (s *Spool) CheckSummed(op errors.Op, name string, sum [32]byte) (hashed bool, err error) {
	if s.h != nil && s.Sum() != sum {
		return false, errors.E(op, errors.Corrupt, name, errors.Str("the bytes spooled do not hash to the sum given"))
	}
	if hashed, err = CheckSum(op, name, sum); err != nil {
		return hashed, err
	}
	if s.err != nil {
		return hashed, errors.E(op, name, s.err)
	}
	return hashed, nil
}

// Body returns the bytes written, to upload: a reader both at offsets and
// by seeking, valid until Discard.
func (s *Spool) Body() (*io.SectionReader, error) {
	if s.f == nil {
		s.lent = true
		return io.NewSectionReader(bytes.NewReader(s.mem), 0, s.n), nil
	}
	if err := s.bw.Flush(); err != nil {
		return nil, errors.E(errors.Op("blob.Spool"), errors.IO, s.f.Name(), err)
	}
	return io.NewSectionReader(s.f, 0, s.n), nil
}

// Discard drops the bytes and removes the temporary file; writes after it
// fail. It is safe to call twice.
func (s *Spool) Discard() {
	s.putMem()
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.bw.Reset(nil)
		spillBufs.Put(s.bw)
		s.f, s.bw = nil, nil
	}
	if s.err == nil {
		s.err = errors.E(errors.Op("blob.Spool"), errors.Invalid, errors.Str("object writer already committed or aborted"))
	}
}

// CheckSum refuses bytes whose SHA-256 is sum under a name that promises
// another hash (errors.Corrupt). It reports whether name promises one.
func CheckSum(op errors.Op, name string, sum [32]byte) (hashed bool, err error) {
	want, hashed := Sum(name)
	if hashed && want != sum {
		return hashed, errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	return hashed, nil
}
