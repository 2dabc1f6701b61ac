package remote

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// listPage is one answer of GET /v1/list.
type listPage struct {
	Objects []listEntry `json:"objects"`
	More    bool        `json:"more"`
}

type listEntry struct {
	Name  string    `json:"name"`
	Size  int64     `json:"size"`
	MTime time.Time `json:"mtime"`
}

// List calls fn for each object whose name starts with prefix, in lexical
// order of name, asking the server for one page after another. It stops
// at the first error fn returns. A prefix no valid name can start with
// lists nothing. See blob.Store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	const op errors.Op = "remote.List"
	if err := ctx.Err(); err != nil {
		return errors.E(op, prefix, err)
	}
	if !validPrefix(prefix) {
		return nil
	}
	after := ""
	for {
		page, err := s.listPage(ctx, op, prefix, after)
		if err != nil {
			return err
		}
		if err := checkPage(page, prefix, after); err != nil {
			return s.c.bodyErr(ctx, op, prefix, err)
		}
		for _, o := range page.Objects {
			if err := fn(blob.Info{Name: o.Name, Size: o.Size, ModTime: o.MTime}); err != nil {
				return err
			}
		}
		if !page.More {
			return nil
		}
		after = page.Objects[len(page.Objects)-1].Name
	}
}

// listPage asks for the page of names after after.
func (s *Store) listPage(ctx context.Context, op errors.Op, prefix, after string) (*listPage, error) {
	q := url.Values{"prefix": {prefix}}
	if after != "" {
		q.Set("after", after)
	}
	if s.c.listLimit > 0 {
		q.Set("limit", strconv.Itoa(s.c.listLimit))
	}
	r := &request{method: http.MethodGet, path: "/v1/list", query: q, auth: true}
	var page listPage
	err := s.c.try(ctx, op, prefix, true, func() error {
		resp, err := s.c.send(ctx, op, prefix, r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		page = listPage{}
		if err := decodeJSON(resp.Body, maxListJSON, &page); err != nil {
			return s.c.bodyErr(ctx, op, prefix, err)
		}
		return nil
	})
	return &page, err
}

// checkPage checks that a page holds valid names that start with prefix,
// sort after after and after each other, and that a page with more to come
// is not empty, so that List always moves on.
func checkPage(page *listPage, prefix, after string) error {
	if page.More && len(page.Objects) == 0 {
		return badAnswer("an empty page of a list says more follow")
	}
	last := after
	for i, o := range page.Objects {
		switch {
		case blob.ValidName(o.Name) != nil:
			return badAnswer("list holds a bad object name %.80q", o.Name)
		case !strings.HasPrefix(o.Name, prefix):
			return badAnswer("list for prefix %q holds %q", prefix, o.Name)
		case (i > 0 || after != "") && o.Name <= last:
			return badAnswer("list is not in order: %q after %q", o.Name, last)
		case o.Size < 0:
			return badAnswer("list gives %q a negative size", o.Name)
		}
		last = o.Name
	}
	return nil
}

// validPrefix reports whether some valid object name starts with prefix:
// whether its complete elements form a valid name and its last, partial
// element holds only the bytes a name may hold.
func validPrefix(prefix string) bool {
	if len(prefix) > blob.MaxNameLen {
		return false
	}
	i := strings.LastIndexByte(prefix, '/')
	if i >= 0 && blob.ValidName(prefix[:i]) != nil {
		return false
	}
	partial := prefix[i+1:]
	return partial == "" || partial == "." || partial == ".." || blob.ValidName(partial) == nil
}
