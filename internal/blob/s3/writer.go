package s3

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

// spillSize is how many bytes a writer holds in memory before it moves
// them to a temporary file.
const spillSize = 4 << 20

// Create starts an object that is held in memory while small and in a
// temporary file past spillSize, hashed as it comes, and uploaded in one
// PUT by Commit. See blob.Streamer.
func (s *Store) Create(ctx context.Context) (blob.ObjectWriter, error) {
	const op errors.Op = "s3.Create"
	if err := ctx.Err(); err != nil {
		return nil, errors.E(op, err)
	}
	return &writer{s: s, h: sha256.New()}, nil
}

type writer struct {
	s   *Store
	h   hash.Hash
	n   int64
	mem []byte        // the bytes, until they reach spillSize
	f   *os.File      // then the file that holds them
	bw  *bufio.Writer // buffering writes to f
	err error
}

func (w *writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.f == nil && len(w.mem)+len(p) > spillSize {
		w.err = w.spill()
		if w.err != nil {
			return 0, w.err
		}
	}
	w.h.Write(p)
	w.n += int64(len(p))
	if w.f == nil {
		w.mem = append(w.mem, p...)
		return len(p), nil
	}
	if _, err := w.bw.Write(p); err != nil {
		w.err = errors.E(errors.Op("s3.Write"), errors.IO, err)
		return 0, w.err
	}
	return len(p), nil
}

// spill moves the bytes held in memory to a new temporary file.
func (w *writer) spill() error {
	const op errors.Op = "s3.Write"
	f, err := os.CreateTemp(w.s.cfg.TempDir, "dvpc-s3-*.tmp")
	if err != nil {
		return errors.E(op, errors.IO, err)
	}
	w.f, w.bw = f, bufio.NewWriterSize(f, 1<<20)
	if _, err := w.bw.Write(w.mem); err != nil {
		return errors.E(op, errors.IO, err)
	}
	w.mem = nil
	return nil
}

func (w *writer) Len() int64 { return w.n }

func (w *writer) Sum() [32]byte {
	var s [32]byte
	w.h.Sum(s[:0])
	return s
}

// Commit checks a name that promises a hash against the bytes, then
// uploads them under name in one PUT.
func (w *writer) Commit(ctx context.Context, name string) error {
	const op errors.Op = "s3.Commit"
	defer w.Abort()
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	sum := w.Sum()
	if err := checkSum(op, name, sum); err != nil {
		return err
	}
	if w.err != nil {
		return errors.E(op, name, w.err)
	}
	var body io.ReadSeeker = bytes.NewReader(w.mem)
	if w.f != nil {
		if err := w.bw.Flush(); err != nil {
			return errors.E(op, errors.IO, name, err)
		}
		body = io.NewSectionReader(w.f, 0, w.n)
	}
	return w.s.put(ctx, op, name, body, w.n, sum)
}

// Abort discards the bytes and removes the temporary file, if any.
func (w *writer) Abort() {
	w.mem = nil
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f, w.bw = nil, nil
	}
	if w.err == nil {
		w.err = errors.E(errors.Op("s3.Write"), errors.Invalid, errors.Str("write after Commit or Abort"))
	}
}
