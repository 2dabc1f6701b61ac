package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"os"

	"github.com/dvpc/dvpc/internal/errors"
)

// ObjectWriter writes one object whose name is known only once all its
// bytes are written: typically a name that ends in their hash. Nothing is
// visible under any name until Commit.
type ObjectWriter interface {
	io.Writer
	// Len is how many bytes were written.
	Len() int64
	// Sum is the SHA-256 of the bytes written so far.
	Sum() [32]byte
	// Commit makes the object durable and visible under name, atomically,
	// with the same rules and errors as Put. The writer is done after it.
	Commit(ctx context.Context, name string) error
	// Abort discards the object. It is safe after Commit.
	Abort()
}

// Unhasher is implemented by object writers that can leave hashing the
// bytes to their caller: a mirror set writes the same bytes to every
// mirror, and hashes them once rather than once a mirror.
type Unhasher interface {
	// Unhash, called before the first Write, stops the writer hashing
	// what it is given, and reports whether it did. After it returns
	// true, only CommitSum commits the writer, and Sum is not to be used.
	Unhash() bool
	// CommitSum is Commit with sum, the caller's SHA-256 of every byte
	// written: checked against a name that promises one, and against the
	// writer's own hash if it still hashes.
	CommitSum(ctx context.Context, name string, sum [32]byte) error
}

// Streamer is implemented by stores that write an object as it comes,
// without holding it in memory.
type Streamer interface {
	Create(ctx context.Context) (ObjectWriter, error)
}

// Create returns an ObjectWriter for s: the store's own if it streams,
// otherwise one that buffers the object and Puts it on Commit.
func Create(ctx context.Context, s Store) (ObjectWriter, error) {
	if st, ok := s.(Streamer); ok {
		return st.Create(ctx)
	}
	return &bufWriter{s: s, h: sha256.New()}, nil
}

type bufWriter struct {
	s   Store
	buf bytes.Buffer
	h   hash.Hash
}

func (w *bufWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	return w.buf.Write(p)
}

func (w *bufWriter) Len() int64 { return int64(w.buf.Len()) }

func (w *bufWriter) Sum() [32]byte {
	var s [32]byte
	w.h.Sum(s[:0])
	return s
}

func (w *bufWriter) Commit(ctx context.Context, name string) error {
	return w.s.Put(ctx, name, w.buf.Bytes())
}

func (w *bufWriter) Abort() { w.buf = bytes.Buffer{} }

// Create streams through to the wrapped store, adding the prefix at Commit.
func (b *sub) Create(ctx context.Context) (ObjectWriter, error) {
	w, err := Create(ctx, b.s)
	if err != nil {
		return nil, err
	}
	sw := &subWriter{ObjectWriter: w, prefix: b.prefix}
	if _, ok := w.(io.ReaderFrom); ok {
		return subReaderFrom{sw}, nil
	}
	return sw, nil
}

type subWriter struct {
	ObjectWriter
	prefix string
}

func (w *subWriter) Commit(ctx context.Context, name string) error {
	return w.ObjectWriter.Commit(ctx, w.prefix+name)
}

func (w *subWriter) Unhash() bool {
	u, ok := w.ObjectWriter.(Unhasher)
	return ok && u.Unhash()
}

func (w *subWriter) CommitSum(ctx context.Context, name string, sum [32]byte) error {
	if u, ok := w.ObjectWriter.(Unhasher); ok {
		return u.CommitSum(ctx, w.prefix+name, sum)
	}
	if w.Sum() != sum { // it hashed what it was given
		w.Abort()
		return errors.E(errors.Op("blob.CommitSum"), errors.Corrupt, name, errors.Str("the caller's hash is not that of the bytes written"))
	}
	return w.Commit(ctx, name)
}

// subReaderFrom is a subWriter whose wrapped writer has a ReadFrom of its
// own, which io.Copy then reaches.
type subReaderFrom struct{ *subWriter }

func (w subReaderFrom) ReadFrom(r io.Reader) (int64, error) {
	return w.ObjectWriter.(io.ReaderFrom).ReadFrom(r)
}

// FileOpener is implemented by stores whose objects are files of this
// machine (a folder mirror). Copied into a writer of another such store,
// an object's bytes need not pass through the process: the kernel copies
// them (see the dir store's ReadFrom).
type FileOpener interface {
	// OpenFile opens the object's file for reading.
	OpenFile(ctx context.Context, name string) (*os.File, error)
}

// OpenFile opens the file of an object of s. ok is false, and nothing is
// opened, when s's objects are not files of this machine.
func OpenFile(ctx context.Context, s Store, name string) (f *os.File, ok bool, err error) {
	fo, prefix, ok := fileOpener(s)
	if !ok {
		return nil, false, nil
	}
	f, err = fo.OpenFile(ctx, prefix+name)
	return f, true, err
}

// fileOpener returns the FileOpener behind s, seen through Sub, and the
// prefix the Subs add to a name.
func fileOpener(s Store) (fo FileOpener, prefix string, ok bool) {
	switch st := s.(type) {
	case *sub:
		fo, inner, ok := fileOpener(st.s)
		return fo, inner + st.prefix, ok
	case FileOpener:
		return st, "", true
	}
	return nil, "", false
}

// Local reports whether the objects of s are files of this machine (a
// FileOpener, seen through Sub).
func Local(s Store) bool {
	_, _, ok := fileOpener(s)
	return ok
}

// RangeReader is implemented by stores that can read part of an object
// into the caller's buffer, sparing an allocation per read.
type RangeReader interface {
	// ReadAt reads len(p) bytes of name from offset off into p. It returns
	// how many it read; fewer than len(p) only with an error, or when the
	// object ends first (then io.EOF or nil).
	ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error)
}

// ReadAt reads part of an object into p: with the store's own ReadAt if it
// has one, else with Get.
func ReadAt(ctx context.Context, s Store, name string, p []byte, off int64) (int, error) {
	if r, ok := s.(RangeReader); ok {
		return r.ReadAt(ctx, name, p, off)
	}
	b, err := s.Get(ctx, name, off, int64(len(p)))
	return copy(p, b), err
}

// ReadAt reads through to the wrapped store.
func (b *sub) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	return ReadAt(ctx, b.s, b.prefix+name, p, off)
}

// VerifiedReader is implemented by stores that hold several copies of an
// object (a mirror set): they try another copy when the bytes of one fail
// the caller's check, so a damaged mirror is never the last word.
type VerifiedReader interface {
	// ReadVerified reads like ReadAt and calls verify on the bytes read
	// (the first n of p); it returns n once verify accepts them. An error
	// of verify is the error of the read when no copy passes it. verify
	// runs for one copy at a time and never after one has passed, so it
	// may keep what it decodes from the copy it accepts.
	ReadVerified(ctx context.Context, name string, p []byte, off int64, verify func([]byte) error) (int, error)
}

// ReadVerified reads part of an object into p and checks it with verify,
// trying other copies of it when the store has them. verify sees only the
// bytes read; an error it returns is the read's error.
func ReadVerified(ctx context.Context, s Store, name string, p []byte, off int64, verify func([]byte) error) (int, error) {
	if r, ok := s.(VerifiedReader); ok {
		return r.ReadVerified(ctx, name, p, off, verify)
	}
	n, err := ReadAt(ctx, s, name, p, off)
	if err != nil && err != io.EOF {
		return n, err
	}
	return n, verify(p[:n])
}

// GetVerified returns a whole object that passes verify, trying other
// copies of it when the store has them.
func GetVerified(ctx context.Context, s Store, name string, verify func([]byte) error) ([]byte, error) {
	if r, ok := s.(WholeVerifiedReader); ok {
		return r.GetVerified(ctx, name, verify)
	}
	b, err := s.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	return b, verify(b)
}

// WholeVerifiedReader is the whole-object form of VerifiedReader.
type WholeVerifiedReader interface {
	GetVerified(ctx context.Context, name string, verify func([]byte) error) ([]byte, error)
}

// ReadVerified reads through to the wrapped store.
func (b *sub) ReadVerified(ctx context.Context, name string, p []byte, off int64, verify func([]byte) error) (int, error) {
	return ReadVerified(ctx, b.s, b.prefix+name, p, off, verify)
}

// GetVerified reads through to the wrapped store.
func (b *sub) GetVerified(ctx context.Context, name string, verify func([]byte) error) ([]byte, error) {
	return GetVerified(ctx, b.s, b.prefix+name, verify)
}

// SectionPutter is implemented by stores that upload an object from bytes
// held elsewhere (a server, S3): a mirror set spools an object once and
// hands each such mirror the same bytes, rather than each spooling its
// own copy.
type SectionPutter interface {
	// PutSection stores the bytes of body under name, with the rules of
	// Put; sum is their SHA-256. body is read only at its own offsets, so
	// several PutSections may share one underlying file.
	PutSection(ctx context.Context, name string, body *io.SectionReader, sum [32]byte) error
}

// PutSection stores body under name: with the store's own PutSection if it
// has one, else by reading it whole and calling Put.
func PutSection(ctx context.Context, s Store, name string, body *io.SectionReader, sum [32]byte) error {
	if sp, ok := s.(SectionPutter); ok {
		return sp.PutSection(ctx, name, body, sum)
	}
	b := make([]byte, body.Size())
	if _, err := body.ReadAt(b, 0); err != nil && err != io.EOF {
		return errors.E(errors.Op("blob.PutSection"), errors.IO, name, err)
	}
	return s.Put(ctx, name, b)
}

// PutSection puts through to the wrapped store.
func (b *sub) PutSection(ctx context.Context, name string, body *io.SectionReader, sum [32]byte) error {
	return PutSection(ctx, b.s, b.prefix+name, body, sum)
}
