package server

import (
	stderrors "errors"
	"net/http"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

type objectJSON struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	MTime string `json:"mtime"`
}

type listResp struct {
	Objects []objectJSON `json:"objects"`
	More    bool         `json:"more"`
}

// errPageFull stops a listing once a page is full.
var errPageFull = errors.Str("page full")

// list answers one page of the account's objects under a prefix. The
// folder mirror lists in lexical order from after, without reading the
// folders before it, and the walk stops one name past the page.
func (s *Server) list(w http.ResponseWriter, r *http.Request, ses *session) error {
	q, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	release, err := s.acquire(r.Context())
	if err != nil {
		return err
	}
	var once sync.Once
	defer once.Do(release)
	st, err := s.store(ses.account.ID)
	if err != nil {
		return err
	}
	out := listResp{Objects: make([]objectJSON, 0, min(q.limit, 256))}
	err = st.ListAfter(r.Context(), q.prefix, q.after, func(info blob.Info) error {
		if info.Name <= q.after {
			return nil
		}
		if len(out.Objects) == q.limit {
			out.More = true
			return errPageFull
		}
		out.Objects = append(out.Objects, objectJSON{info.Name, info.Size, timeJSON(info.ModTime)})
		return nil
	})
	if err != nil && !stderrors.Is(err, errPageFull) {
		return err
	}
	// The slot bounds open folders, not a client's reading: give it back
	// before the answer goes out, and cut off a client that stops reading.
	once.Do(release)
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(bodyIdleTimeout))
	writeJSON(w, http.StatusOK, out)
	return nil
}
