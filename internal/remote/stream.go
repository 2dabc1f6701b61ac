package remote

import (
	"context"
	"io"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Create starts an object that is kept in memory while small and in a
// temporary file beyond (blob.Spool), and uploaded by Commit. See
// blob.Streamer.
func (s *Store) Create(ctx context.Context) (blob.ObjectWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, errors.E(errors.Op("remote.Create"), err)
	}
	return &writer{Spool: blob.NewSpool(s.c.tempDir, "dvpc-upload-*"), s: s}, nil
}

// writer is an object being written, uploaded under its name by Commit.
type writer struct {
	*blob.Spool
	s *Store
}

// Commit checks a name that promises a hash against the bytes, and uploads
// them under name, retrying as Put does. The writer is done after it.
func (w *writer) Commit(ctx context.Context, name string) error {
	const op errors.Op = "remote.Commit"
	defer w.Abort()
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	hashed, err := w.Check(op, name)
	if err != nil {
		return err
	}
	body, err := w.Body()
	if err != nil {
		return err
	}
	return w.s.put(ctx, op, name, body, w.Len(), hashed)
}

// Abort discards the object and removes its temporary file.
func (w *writer) Abort() { w.Discard() }

// PutSection uploads body under name, retrying as Put does. See
// blob.SectionPutter.
func (s *Store) PutSection(ctx context.Context, name string, body *io.SectionReader, sum [32]byte) error {
	const op errors.Op = "remote.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	hashed, err := blob.CheckSum(op, name, sum)
	if err != nil {
		return err
	}
	return s.put(ctx, op, name, body, body.Size(), hashed)
}
