package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Get returns length bytes of name from offset off; length < 0 means to
// the end. See blob.Store.
func (s *Store) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	const op errors.Op = "s3.Get"
	if err := blob.Check(ctx, op, name); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, errors.E(op, errors.Invalid, name, errors.Str("negative offset"))
	}
	if length == 0 {
		_, err := s.stat(ctx, op, name)
		if err != nil {
			return nil, err
		}
		return []byte{}, nil
	}
	var data []byte
	err := s.retry(ctx, op, name, func() error {
		body, n, err := s.open(ctx, op, name, off, length)
		if err != nil || body == nil {
			data = []byte{}
			return err
		}
		defer body.Close()
		data = make([]byte, n)
		if _, err := io.ReadFull(body, data); err != nil {
			return s.bodyErr(op, name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// ReadAt reads len(p) bytes of name from off into p, with no copy in
// between. See blob.RangeReader.
func (s *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	const op errors.Op = "s3.ReadAt"
	if err := blob.Check(ctx, op, name); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errors.E(op, errors.Invalid, name, errors.Str("negative offset"))
	}
	if len(p) == 0 {
		_, err := s.stat(ctx, op, name)
		return 0, err
	}
	var n int64
	err := s.retry(ctx, op, name, func() error {
		body, size, err := s.open(ctx, op, name, off, int64(len(p)))
		if err != nil || body == nil {
			n = 0
			return err
		}
		defer body.Close()
		n = size
		blob.Progress(ctx) // the answer has begun
		if _, err := io.ReadFull(blob.ProgressReader(ctx, body), p[:n]); err != nil {
			return s.bodyErr(op, name, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if n < int64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}

// open asks for length bytes of name from off (length > 0, or < 0 for
// all) and returns the body and how many bytes it holds. It returns a nil
// body and no error when off is at or past the end of the object.
func (s *Store) open(ctx context.Context, op errors.Op, name string, off, length int64) (io.ReadCloser, int64, error) {
	h := http.Header{}
	ranged := setRange(h, off, length)
	resp, err := s.c.do(ctx, call{method: http.MethodGet, key: s.key(name), header: h})
	if err != nil {
		if re, ok := err.(*respError); !ok || re.Status != http.StatusRequestedRangeNotSatisfiable {
			return nil, 0, s.mapErr(ctx, op, name, err)
		}
		// The range starts at or past the end, which the contract reads
		// as an empty range, or the object changed under us.
		in, serr := s.stat(ctx, op, name)
		if serr != nil {
			return nil, 0, serr
		}
		if off >= in.Size {
			return nil, 0, nil
		}
		return nil, 0, s.mapErr(ctx, op, name, err)
	}
	n := resp.ContentLength
	switch {
	case ranged && resp.Header.Get("Content-Range") == "":
		err = fmt.Errorf("the S3 store %s ignored the range asked for", s.where())
	case n < 0:
		err = fmt.Errorf("the S3 store %s gave no Content-Length", s.where())
	case length > 0 && n > length:
		err = fmt.Errorf("the S3 store %s sent %d bytes for a range of %d", s.where(), n, length)
	}
	if err != nil {
		resp.Body.Close()
		return nil, 0, errors.E(op, errors.IO, name, err)
	}
	return resp.Body, n, nil
}

// setRange asks h for length bytes from off, and reports whether it asked
// for a range rather than the whole object.
func setRange(h http.Header, off, length int64) bool {
	switch {
	case off == 0 && length < 0:
		return false
	case length < 0 || length-1 > (1<<63-1)-off:
		h.Set("Range", fmt.Sprintf("bytes=%d-", off))
	default:
		h.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	}
	return true
}

// bodyErr classifies a failure to read a body: the connection broke, so
// the store is Unavailable and the request may be tried again.
func (s *Store) bodyErr(op errors.Op, name string, err error) error {
	return errors.E(op, errors.Unavailable, name, &bodyError{fmt.Errorf("reading from the S3 store %s: %w", s.where(), err)})
}
