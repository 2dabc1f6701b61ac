package server

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
)

// readChunk is how much of an object a GET reads and sends at a time.
const readChunk = 256 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

// object serves /v1/o/<name> for the token's account: the name is a path
// in that account's folder mirror only, so no name reaches another's.
func (s *Server) object(w http.ResponseWriter, r *http.Request, ses *session, name string) error {
	if err := blob.ValidName(name); err != nil {
		return invalid("bad object name: elements of [A-Za-z0-9._-], not . or .., separated by /, at most 512 bytes")
	}
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	defer release()
	st, err := s.store(ses.account.ID)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodPut:
		return s.put(w, r, ses, st, name)
	case http.MethodDelete:
		return s.del(w, r, ses, st, name)
	default:
		return s.get(w, r, st, name)
	}
}

// put streams the body to a temporary file and commits it under name
// (see blob.ObjectWriter): the SHA-256 a name promises is checked, and
// nothing is visible, nor counted, until the whole object is durable.
func (s *Server) put(w http.ResponseWriter, r *http.Request, ses *session, st *dir.Store, name string) error {
	if name == envelopeName {
		return refuse(codeForbidden, "the account envelope changes only through sign-up, passphrase change and recovery")
	}
	n := r.ContentLength
	switch {
	case n < 0:
		return invalid("Content-Length is required")
	case n > s.cfg.MaxObject:
		return refuse(codeTooLarge, "the object is over the server's limit of "+itoa(s.cfg.MaxObject)+" bytes")
	}
	ctx, id := r.Context(), ses.account.ID
	old, err := sizeOf(ctx, st, name)
	if err != nil {
		return err
	}
	done, err := s.reserve(ctx, id, n-old)
	if err != nil {
		if fromErr(err).code == codeQuotaExceeded {
			s.log.Warn("quota refusal", "user", ses.account.User, "account", id, "size", n)
		}
		return err
	}
	defer done()
	ow, err := st.Create(ctx)
	if err != nil {
		return err
	}
	defer ow.Abort()
	body := &bodyReader{r: r.Body, rc: http.NewResponseController(w)}
	buf := copyBufs.Get().(*[]byte)
	copied, err := copyFull(ow, io.LimitReader(body, n), *buf)
	copyBufs.Put(buf)
	switch {
	case body.err != nil:
		return invalid("the body could not be read to its end")
	case err != nil:
		return err
	case copied != n:
		return invalid("the body is shorter than Content-Length")
	}
	// All bytes are here: finish even if the client goes away now, so the
	// object and its count agree.
	if err := s.commit(context.WithoutCancel(ctx), st, ow, id, name); err != nil {
		return err
	}
	s.hub.notify(id, name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// commit makes the object durable under name and counts its bytes, under
// the name's lock.
func (s *Server) commit(ctx context.Context, st *dir.Store, ow blob.ObjectWriter, id, name string) error {
	defer s.usage.lock(id, name)()
	before, err := sizeOf(ctx, st, name)
	if err != nil {
		return err
	}
	if err := ow.Commit(ctx, name); err != nil {
		return err
	}
	s.addUsed(ctx, id, ow.Len()-before)
	return nil
}

// copyBufs are the buffers that carry request bodies to the store, as
// large as a folder store's write buffer: a piece that fills one goes to
// the file without being copied into it first.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// copyFull copies r to w through buf, in pieces that fill it (the last may
// be shorter), and returns how many bytes it copied. A socket gives a
// request body a few dozen KiB per read: written as they came, the pieces
// were copied into the store's buffer first, and a store's ReadFrom (a
// folder's) would have read 32 KiB at a time. A read error is returned as
// it is; the end of r is not an error.
func copyFull(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return n, nil
		default:
			return n, rerr
		}
	}
}

// bodyReader reads a request body, keeping its error apart from the
// store's, and cuts off a client that sends nothing for bodyIdleTimeout.
type bodyReader struct {
	r   io.Reader
	rc  *http.ResponseController
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(bodyIdleTimeout))
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (s *Server) del(w http.ResponseWriter, r *http.Request, ses *session, st *dir.Store, name string) error {
	if name == envelopeName {
		return refuse(codeForbidden, "the account envelope cannot be deleted")
	}
	if err := s.remove(context.WithoutCancel(r.Context()), st, ses.account.ID, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// remove deletes an object and uncounts its bytes, under the name's lock.
func (s *Server) remove(ctx context.Context, st *dir.Store, id, name string) error {
	defer s.usage.lock(id, name)()
	before, err := sizeOf(ctx, st, name)
	if err != nil {
		return err
	}
	if err := st.Delete(ctx, name); err != nil {
		return err
	}
	if before > 0 {
		s.addUsed(ctx, id, -before)
	}
	return nil
}

// get serves GET and HEAD. It streams readChunk bytes at a time with the
// store's ReadAt, so an object of any size costs one buffer. An object
// replaced while it is being read (a mutable name) could mix two versions,
// so get checks after reading that its size and mtime did not change: for
// an object of one chunk it then reads again; for a longer one, whose
// status is sent, it checks before the last chunk and otherwise cuts the
// connection, so the client sees a short response, never a wrong one.
func (s *Server) get(w http.ResponseWriter, r *http.Request, st *dir.Store, name string) error {
	ctx := r.Context()
	bp := chunks.Get().(*[]byte)
	defer chunks.Put(bp)
	for attempt := 0; ; attempt++ {
		info, err := st.Stat(ctx, name)
		if err != nil {
			return err
		}
		off, n, partial := int64(0), info.Size, false
		if r.Method == http.MethodGet {
			if off, n, partial, err = parseRange(r.Header.Get("Range"), info.Size); err != nil {
				if fromErr(err).code == codeBadRange {
					w.Header().Set("Content-Range", "bytes */"+itoa(info.Size))
				}
				return err
			}
		}
		buf := (*bp)[:min(n, readChunk)]
		if r.Method == http.MethodGet || n <= readChunk {
			if _, err := readFull(ctx, st, name, buf, off); err != nil && attempt < 2 {
				continue
			} else if err != nil {
				return err
			}
		}
		if n <= readChunk && !unchanged(ctx, st, info) {
			if attempt < 2 {
				continue
			}
			return errors.E(errors.Op("server.get"), errors.Unavailable, name, errors.Str("the object keeps changing; retry"))
		}
		status := s.header(w, info, off, n, partial)
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return nil
		}
		if n <= readChunk {
			// A client that stops reading must not hold its request slot
			// for ever.
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(bodyIdleTimeout))
			w.Write(buf)
			return nil
		}
		s.stream(ctx, w, st, info, buf, off, n)
		return nil
	}
}

// header sets the headers of a GET or HEAD answer and returns its status.
func (s *Server) header(w http.ResponseWriter, info blob.Info, off, n int64, partial bool) int {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", itoa(n))
	h.Set("X-Dvpc-Mtime", itoa(info.ModTime.UnixNano()))
	h.Set("Accept-Ranges", "bytes")
	if !partial {
		return http.StatusOK
	}
	h.Set("Content-Range", "bytes "+itoa(off)+"-"+itoa(off+n-1)+"/"+itoa(info.Size))
	return http.StatusPartialContent
}

// stream sends n bytes of an object from off; buf holds the first chunk
// already. Having sent the status, it can only cut the connection on an
// error.
func (s *Server) stream(ctx context.Context, w http.ResponseWriter, st *dir.Store, info blob.Info, buf []byte, off, n int64) {
	rc := http.NewResponseController(w)
	defer rc.SetWriteDeadline(time.Time{})
	for sent := int64(0); sent < n; {
		if sent > 0 {
			buf = buf[:min(n-sent, int64(cap(buf)))]
			if _, err := readFull(ctx, st, info.Name, buf, off+sent); err != nil {
				s.log.Debug("GET cut off", "object", info.Name, "err", err)
				panic(http.ErrAbortHandler)
			}
		}
		if sent+int64(len(buf)) == n && !unchanged(ctx, st, info) {
			s.log.Warn("GET cut off: the object was replaced while being sent", "object", info.Name)
			panic(http.ErrAbortHandler)
		}
		rc.SetWriteDeadline(time.Now().Add(bodyIdleTimeout))
		if _, err := w.Write(buf); err != nil {
			return // the client went away
		}
		sent += int64(len(buf))
	}
}

// readFull reads len(buf) bytes of an object from off; fewer is an error
// (the object shrank since it was looked at).
func readFull(ctx context.Context, st *dir.Store, name string, buf []byte, off int64) (int, error) {
	k, err := st.ReadAt(ctx, name, buf, off)
	if err == nil && k < len(buf) {
		err = errors.E(errors.Op("server.get"), errors.Unavailable, name, errors.Str("the object changed while being read; retry"))
	}
	return k, err
}

// unchanged reports whether the object still has the size and mtime it
// had when the GET began.
func unchanged(ctx context.Context, st *dir.Store, was blob.Info) bool {
	now, err := st.Stat(ctx, was.Name)
	return err == nil && now.Size == was.Size && now.ModTime.Equal(was.ModTime)
}
