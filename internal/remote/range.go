package remote

import (
	"context"
	"io"
	"net/http"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// maxPrealloc bounds the buffer made ahead from what an answer says its
// length is; a longer answer grows its buffer as its bytes come.
const maxPrealloc = 1 << 30

// bodyRange checks the answer to a GET of length bytes from off (length <
// 0: to the end) and returns a reader of those bytes and how many there
// are, or -1 if the answer does not say. The answer is 206 with the range,
// or 200 with the whole object: a server may ignore Range.
func bodyRange(resp *http.Response, off, length int64) (io.Reader, int64, error) {
	switch resp.StatusCode {
	case http.StatusPartialContent:
		n, err := checkPartial(resp, off, length)
		return resp.Body, n, err
	case http.StatusOK:
		if off > 0 {
			_, err := io.CopyN(io.Discard, resp.Body, off)
			if err == io.EOF {
				return resp.Body, 0, nil // off is past the end
			}
			if err != nil {
				return nil, 0, err
			}
		}
		if resp.ContentLength < 0 {
			if length >= 0 {
				return io.LimitReader(resp.Body, length), -1, nil
			}
			return resp.Body, -1, nil
		}
		n := max(resp.ContentLength-off, 0)
		if length >= 0 {
			n = min(n, length)
		}
		return resp.Body, n, nil
	}
	return nil, 0, badAnswer("GET answered %d", resp.StatusCode)
}

// checkPartial checks the Content-Range of a 206 answer against the range
// asked for, and returns how many bytes the body holds.
func checkPartial(resp *http.Response, off, length int64) (int64, error) {
	v := resp.Header.Get("Content-Range")
	cr, ok := parseContentRange(v)
	if !ok || cr.first < 0 {
		return 0, badAnswer("bad Content-Range %.80q", v)
	}
	n := cr.last - cr.first + 1
	want := int64(-1) // the last byte asked for, if any
	if length >= 0 && length-1 <= (1<<63-1)-off {
		want = off + length - 1
	}
	if cr.size >= 0 && (want < 0 || want > cr.size-1) {
		want = cr.size - 1 // the last byte there is
	}
	switch {
	case cr.first != off:
		return 0, badAnswer("Content-Range %.80q does not start at offset %d", v, off)
	case cr.size >= 0 && cr.last != want, want >= 0 && cr.last > want:
		return 0, badAnswer("Content-Range %.80q is not the range asked for", v)
	case resp.ContentLength >= 0 && resp.ContentLength != n:
		return 0, badAnswer("Content-Length %d differs from Content-Range %.80q", resp.ContentLength, v)
	}
	return n, nil
}

// maxObject bounds what one answer may make the client hold: a server
// that streams without end is cut off here. It is far above the server's
// own limit on objects (256 MiB by default).
const maxObject = 4 << 30

// readRange reads the bytes that bodyRange finds in the answer.
func readRange(resp *http.Response, off, length int64) ([]byte, error) {
	r, n, err := bodyRange(resp, off, length)
	switch {
	case err != nil:
		return nil, err
	case n > maxObject:
		return nil, badAnswer("an answer of %d bytes, over the largest object (%d)", n, int64(maxObject))
	case n < 0 || n > maxPrealloc:
		b, err := io.ReadAll(io.LimitReader(r, maxObject+1))
		if err == nil && int64(len(b)) > maxObject {
			return nil, badAnswer("an answer longer than the largest object (%d bytes)", int64(maxObject))
		}
		return b, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// ReadAt reads len(p) bytes of name from offset off into p, and fewer only
// with an error or when the object ends first (then with io.EOF). See
// blob.RangeReader.
func (s *Store) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	const op errors.Op = "remote.ReadAt"
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
	var n int
	var eof bool
	err := s.c.try(ctx, op, name, true, func() error {
		resp, err := s.get(ctx, op, name, off, int64(len(p)))
		if err != nil || resp == nil {
			n, eof = 0, err == nil
			return err
		}
		defer resp.Body.Close()
		blob.Progress(ctx) // the answer has begun
		resp.Body = struct {
			io.Reader
			io.Closer
		}{blob.ProgressReader(ctx, resp.Body), resp.Body}
		n, eof, err = readInto(resp, off, p)
		if err != nil {
			return s.c.bodyErr(ctx, op, name, err)
		}
		return nil
	})
	if err == nil && eof {
		err = io.EOF
	}
	return n, err
}

// readInto reads the answer to a GET of len(p) bytes from off into p, and
// reports whether the object ended first.
func readInto(resp *http.Response, off int64, p []byte) (int, bool, error) {
	r, n, err := bodyRange(resp, off, int64(len(p)))
	if err != nil {
		return 0, false, err
	}
	if n < 0 {
		k, err := io.ReadFull(r, p)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return k, true, nil
		}
		return k, false, err
	}
	k, err := io.ReadFull(r, p[:n])
	return k, int(n) < len(p), err
}
