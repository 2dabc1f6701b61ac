package dir

import (
	"bufio"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Create starts an object that is written to a temporary file in the
// store's root as it comes, and renamed into place by Commit. See
// blob.Streamer.
func (s *Store) Create(ctx context.Context) (blob.ObjectWriter, error) {
	const op errors.Op = "dir.Create"
	if err := ctx.Err(); err != nil {
		return nil, errors.E(op, err)
	}
	f, err := os.CreateTemp(s.root, tempPrefix+"*"+tempSuffix)
	if err != nil {
		return nil, mapErr(op, "", err)
	}
	bw := bufPool.Get().(*bufio.Writer)
	bw.Reset(f)
	return &writer{s: s, f: f, bw: bw, h: sha256.New()}, nil
}

// bufPool holds the write buffers of writers, so that a server writing
// many small objects does not allocate and clear a MiB for each.
var bufPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 1<<20) }}

type writer struct {
	s   *Store
	f   *os.File
	bw  *bufio.Writer
	h   hash.Hash // nil once Unhash said the caller hashes
	n   int64
	err error
}

var _ blob.Unhasher = (*writer)(nil)

// Unhash stops the writer hashing what it is given, before the first
// byte. See blob.Unhasher.
func (w *writer) Unhash() bool {
	if w.n == 0 {
		w.h = nil
	}
	return w.h == nil
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.h != nil {
		w.h.Write(p)
	}
	var n int
	var err error
	if w.bw.Buffered() == 0 && len(p) >= w.bw.Size() {
		// A piece the size of the buffer or more goes straight to the
		// file: bufio would copy one exactly its size first.
		n, err = w.f.Write(p)
	} else {
		n, err = w.bw.Write(p)
	}
	w.n += int64(n)
	if err != nil {
		w.err = mapErr("dir.Write", "", err)
	}
	return n, w.err
}

// ReadFrom writes what r holds. From a file (an object of another folder
// mirror, see OpenFile) the kernel copies the bytes (copy_file_range, or
// a splice where it cannot); they are then hashed as read back from this
// writer's file, so the hash Commit checks is of the bytes it will sync.
// The disk starts on them before the hash, so Commit's sync waits for
// less.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	f, ok := r.(*os.File)
	if !ok {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = mapErr("dir.Write", "", err)
		return 0, w.err
	}
	start := w.n
	n, err := w.f.ReadFrom(f)
	w.n += n
	if err != nil {
		w.err = mapErr("dir.Write", "", err)
		return n, w.err
	}
	startWriteback(w.f, start, n)
	if w.h == nil {
		return n, nil // the caller hashes what it copies
	}
	if err := hashFile(w.h, w.f, start, n); err != nil {
		w.err = mapErr("dir.Write", "", err)
	}
	return n, w.err
}

// hashFile adds [off, off+n) of f to h.
func hashFile(h hash.Hash, f *os.File, off, n int64) error {
	bp := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(bp)
	for n > 0 {
		b := (*bp)[:min(int64(len(*bp)), n)]
		k, err := f.ReadAt(b, off)
		h.Write(b[:k])
		off += int64(k)
		n -= int64(k)
		if err != nil && n > 0 {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

var hashBufs = sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}

func (w *writer) Len() int64 { return w.n }

// Sum is the SHA-256 of what was written; zero after Unhash.
func (w *writer) Sum() [32]byte {
	var s [32]byte
	if w.h != nil {
		w.h.Sum(s[:0])
	}
	return s
}

// Commit syncs the file, checks a name that promises a hash against the
// bytes, and renames the file into place.
func (w *writer) Commit(ctx context.Context, name string) error {
	if w.h == nil {
		defer w.Abort()
		return errors.E(errors.Op("dir.Commit"), errors.Invalid, name, errors.Str("an unhashed writer is committed with its caller's sum (CommitSum)"))
	}
	return w.commit(ctx, name, w.Sum())
}

// CommitSum is Commit with the caller's SHA-256 of the bytes. See
// blob.Unhasher.
func (w *writer) CommitSum(ctx context.Context, name string, sum [32]byte) error {
	if w.h != nil && w.Sum() != sum {
		defer w.Abort()
		return errors.E(errors.Op("dir.Commit"), errors.Corrupt, name, errors.Str("the caller's hash is not that of the bytes written"))
	}
	return w.commit(ctx, name, sum)
}

func (w *writer) commit(ctx context.Context, name string, written [32]byte) error {
	const op errors.Op = "dir.Commit"
	defer w.Abort()
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	if sum, ok := blob.Sum(name); ok && written != sum {
		return errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		return putErr(op, name, err)
	}
	if err := w.f.Sync(); err != nil {
		return putErr(op, name, err)
	}
	if w.s.dropWritten {
		dropPages(w.f) // only advice: the object is written whatever it does
	}
	if err := w.f.Close(); err != nil {
		return putErr(op, name, err)
	}
	path := w.s.path(name)
	if err := w.s.mkdirs(filepath.Dir(path)); err != nil {
		return putErr(op, name, err)
	}
	if err := os.Rename(w.f.Name(), path); err != nil {
		return putErr(op, name, err)
	}
	w.f = nil
	return mapErr(op, name, syncDir(filepath.Dir(path)))
}

// Abort removes the temporary file.
func (w *writer) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	if w.bw != nil {
		w.bw.Reset(nil)
		bufPool.Put(w.bw)
		w.bw = nil
	}
}

// OpenFile opens the file of the object name. See blob.FileOpener.
func (s *Store) OpenFile(ctx context.Context, name string) (*os.File, error) {
	const op errors.Op = "dir.OpenFile"
	if err := blob.Check(ctx, op, name); err != nil {
		return nil, err
	}
	f, err := os.Open(s.path(name))
	if err != nil {
		return nil, mapErr(op, name, err)
	}
	return f, nil
}

// readPiece is the most ReadAt reads in one call before it reports
// progress (blob.Progress). A mirror set asks another mirror when the one
// asked has been silent for its hedge time (300 ms for a folder): a 16 MiB
// span from a USB drive at 30 MB/s takes longer than that, and is slow,
// not silent. 1 MiB takes a few ms from a disk.
const readPiece = 1 << 20

// ReadAt reads part of an object into p. See blob.RangeReader.
func (s *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	const op errors.Op = "dir.ReadAt"
	if err := blob.Check(ctx, op, name); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errors.E(op, errors.Invalid, name, errors.Str("negative offset"))
	}
	n, err := readAt(s.path(name), p, off, func() { blob.Progress(ctx) })
	if err != nil && err != io.EOF {
		return n, mapErr(op, name, err)
	}
	return n, nil
}
