package s3

import (
	"context"
	"io"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Create starts an object that is held in memory while small and in a
// temporary file beyond (blob.Spool), hashed as it comes, and uploaded in
// one PUT by Commit. See blob.Streamer.
func (s *Store) Create(ctx context.Context) (blob.ObjectWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, errors.E(errors.Op("s3.Create"), err)
	}
	return &writer{Spool: blob.NewSpool(s.cfg.TempDir, "dvpc-s3-*.tmp"), s: s}, nil
}

type writer struct {
	*blob.Spool
	s *Store
}

// Commit checks a name that promises a hash against the bytes, then
// uploads them under name in one PUT.
func (w *writer) Commit(ctx context.Context, name string) error {
	const op errors.Op = "s3.Commit"
	defer w.Abort()
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	if _, err := w.Check(op, name); err != nil {
		return err
	}
	body, err := w.Body()
	if err != nil {
		return err
	}
	return w.s.put(ctx, op, name, body, w.Len(), w.Sum())
}

// Abort discards the bytes and removes the temporary file, if any.
func (w *writer) Abort() { w.Discard() }

// PutSection uploads body under name in one PUT. See blob.SectionPutter.
func (s *Store) PutSection(ctx context.Context, name string, body *io.SectionReader, sum [32]byte) error {
	const op errors.Op = "s3.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	if _, err := blob.CheckSum(op, name, sum); err != nil {
		return err
	}
	return s.put(ctx, op, name, body, body.Size(), sum)
}
