package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"os"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// spillSize is how many bytes an object writer keeps in memory before it
// moves them to a temporary file: small objects (segments, indexes) never
// touch the disk, and a pack is never held in memory.
const spillSize = 4 << 20

// Create starts an object that is kept in memory while small and in a
// temporary file beyond, and uploaded by Commit. See blob.Streamer.
func (s *Store) Create(ctx context.Context) (blob.ObjectWriter, error) {
	const op errors.Op = "remote.Create"
	if err := ctx.Err(); err != nil {
		return nil, errors.E(op, err)
	}
	return &writer{s: s, h: sha256.New()}, nil
}

// writer is an object being written: in buf, or once it grows past
// spillSize, in the temporary file f (buffered by bw).
type writer struct {
	s   *Store
	h   hash.Hash
	buf bytes.Buffer
	f   *os.File
	bw  *bufio.Writer
	n   int64
	err error // the first error writing, returned from then on
}

func (w *writer) Write(p []byte) (int, error) {
	const op errors.Op = "remote.Write"
	if w.err != nil {
		return 0, w.err
	}
	if w.f == nil && w.buf.Len()+len(p) > spillSize {
		if err := w.spill(); err != nil {
			w.err = errors.E(op, errors.IO, err)
			return 0, w.err
		}
	}
	w.h.Write(p)
	w.n += int64(len(p))
	if w.f == nil {
		return w.buf.Write(p)
	}
	n, err := w.bw.Write(p)
	if err != nil {
		w.err = errors.E(op, errors.IO, w.f.Name(), err)
	}
	return n, w.err
}

// spill moves what is in memory to a new temporary file.
func (w *writer) spill() error {
	f, err := os.CreateTemp(w.s.c.tempDir, "dvpc-upload-*")
	if err != nil {
		return err
	}
	w.f, w.bw = f, bufio.NewWriterSize(f, 1<<20)
	_, err = w.bw.Write(w.buf.Bytes())
	w.buf = bytes.Buffer{}
	return err
}

func (w *writer) Len() int64 { return w.n }

func (w *writer) Sum() [32]byte {
	var s [32]byte
	w.h.Sum(s[:0])
	return s
}

// Commit checks a name that promises a hash against the bytes, and uploads
// them under name, retrying as Put does. The writer is done after it.
func (w *writer) Commit(ctx context.Context, name string) error {
	const op errors.Op = "remote.Commit"
	defer w.Abort()
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	sum, hashed := blob.Sum(name)
	if hashed && w.Sum() != sum {
		return errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	if w.err != nil {
		return w.err
	}
	var body io.ReaderAt = bytes.NewReader(w.buf.Bytes())
	if w.f != nil {
		if err := w.bw.Flush(); err != nil {
			return errors.E(op, errors.IO, w.f.Name(), err)
		}
		body = w.f
	}
	return w.s.put(ctx, op, name, body, w.n, hashed)
}

// Abort discards the object and removes its temporary file.
func (w *writer) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f, w.bw = nil, nil
	}
	w.buf = bytes.Buffer{}
	if w.err == nil {
		w.err = errors.E(errors.Op("remote.Write"), errors.Invalid, errors.Str("object writer already committed or aborted"))
	}
}
