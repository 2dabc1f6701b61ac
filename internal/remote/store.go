package remote

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Store is the mirror kind http: the objects of the client's account on
// the server. It implements blob.Store, blob.Streamer and
// blob.RangeReader, and is safe for concurrent use.
//
// Reads, lists and deletes, and puts of a name that promises its hash
// (blob.Sum), are retried on transient failures; a put of any other name
// is not, since another device may have put other bytes under it since.
type Store struct {
	c *Client
}

var (
	_ blob.Store       = (*Store)(nil)
	_ blob.Streamer    = (*Store)(nil)
	_ blob.RangeReader = (*Store)(nil)
)

// Store returns the mirror of the client's account on the server.
func (c *Client) Store() *Store { return &Store{c: c} }

// objectPath is the route of the object name, which must be valid: a
// valid name needs no escaping.
func objectPath(name string) string { return "/v1/o/" + name }

// Put stores data under name. See blob.Store.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	const op errors.Op = "remote.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	// The server checks the hash a name promises (422, Corrupt): hashing
	// here too would cost a core as much as the upload.
	_, hashed := blob.Sum(name)
	return s.put(ctx, op, name, bytes.NewReader(data), int64(len(data)), hashed)
}

// put sends size bytes of body under name, retrying if idempotent.
func (s *Store) put(ctx context.Context, op errors.Op, name string, body io.ReaderAt, size int64, idempotent bool) error {
	r := &request{method: http.MethodPut, path: objectPath(name), body: body, size: size, auth: true}
	if size > expectContinueSize {
		// Let the server refuse (quota, disk, token) before the bytes go.
		r.header = http.Header{"Expect": {"100-continue"}}
	}
	return s.c.try(ctx, op, name, idempotent, func() error {
		resp, err := s.c.send(ctx, op, name, r)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}

// expectContinueSize is the size above which a put asks the server to
// accept it before sending the bytes.
const expectContinueSize = 1 << 20

// Get returns length bytes of name from offset off; length < 0 means to
// the end. See blob.Store.
func (s *Store) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	const op errors.Op = "remote.Get"
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
	err := s.c.try(ctx, op, name, true, func() error {
		resp, err := s.get(ctx, op, name, off, length)
		if err != nil || resp == nil {
			data = []byte{}
			return err
		}
		defer resp.Body.Close()
		data, err = readRange(resp, off, length)
		if err != nil {
			return s.c.bodyErr(ctx, op, name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return data, nil
}

// get asks for length bytes of name from off (length > 0, or < 0 for all).
// It returns a nil response and no error when off is past the end.
func (s *Store) get(ctx context.Context, op errors.Op, name string, off, length int64) (*http.Response, error) {
	r := &request{method: http.MethodGet, path: objectPath(name), auth: true}
	if rng := rangeHeader(off, length); rng != "" {
		r.header = http.Header{"Range": {rng}}
	}
	resp, err := s.c.send(ctx, op, name, r)
	var se *serverError
	if err == nil || !errors.As(err, &se) || se.Status != http.StatusRequestedRangeNotSatisfiable {
		return resp, err
	}
	// The range starts at or past the end, which the contract reads as
	// an empty range, or the object changed under us.
	size := se.size
	if size < 0 {
		in, serr := s.stat(ctx, op, name)
		if serr != nil {
			return nil, serr
		}
		size = in.Size
	}
	if off >= size {
		return nil, nil
	}
	return nil, err
}

// rangeHeader returns the Range header for length bytes from off, or ""
// for the whole object.
func rangeHeader(off, length int64) string {
	switch {
	case length < 0 && off == 0:
		return ""
	case length < 0 || length-1 > (1<<63-1)-off:
		return "bytes=" + strconv.FormatInt(off, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+length-1, 10)
}

// Stat describes name. See blob.Store.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	const op errors.Op = "remote.Stat"
	if err := blob.Check(ctx, op, name); err != nil {
		return blob.Info{}, err
	}
	return s.stat(ctx, op, name)
}

func (s *Store) stat(ctx context.Context, op errors.Op, name string) (blob.Info, error) {
	var in blob.Info
	err := s.c.try(ctx, op, name, true, func() error {
		resp, err := s.c.send(ctx, op, name, &request{method: http.MethodHead, path: objectPath(name), auth: true})
		if err != nil {
			return err
		}
		resp.Body.Close()
		in, err = statInfo(name, resp)
		if err != nil {
			return s.c.bodyErr(ctx, op, name, err)
		}
		return nil
	})
	return in, err
}

// statInfo reads the headers of an answer to HEAD.
func statInfo(name string, resp *http.Response) (blob.Info, error) {
	if resp.StatusCode != http.StatusOK || resp.ContentLength < 0 {
		return blob.Info{}, badAnswer("HEAD answered %d with Content-Length %d", resp.StatusCode, resp.ContentLength)
	}
	mtime, ok := parseMtime(resp.Header.Get("X-Dvpc-Mtime"))
	if !ok {
		return blob.Info{}, badAnswer("bad X-Dvpc-Mtime %.40q", resp.Header.Get("X-Dvpc-Mtime"))
	}
	return blob.Info{Name: name, Size: resp.ContentLength, ModTime: mtime}, nil
}

// Delete removes name; a missing object is not an error. See blob.Store.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op errors.Op = "remote.Delete"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	return s.c.try(ctx, op, name, true, func() error {
		resp, err := s.c.send(ctx, op, name, &request{method: http.MethodDelete, path: objectPath(name), auth: true})
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
}
