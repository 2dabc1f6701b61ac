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

// Changes is what Watch returns: the names put since the cursor asked
// with, and the cursor to ask with next. Reset means the server cannot
// tell what changed (it restarted, or the cursor is too old): the caller
// lists what it needs.
type Changes struct {
	Cursor string   `json:"cursor"`
	Names  []string `json:"names"`
	Reset  bool     `json:"reset"`
}

// maxWatch is the longest wait the protocol allows a Watch.
const maxWatch = 60 * time.Second

// Watch waits up to timeout (rounded up to whole seconds, at most 60 s; 0
// for the server's default of 25 s) for objects whose names start with
// prefix to be put after cursor, and returns them. An empty cursor returns
// at once with the current cursor and no names.
func (c *Client) Watch(ctx context.Context, prefix, cursor string, timeout time.Duration) (*Changes, error) {
	const op errors.Op = "remote.Watch"
	q := url.Values{"prefix": {prefix}, "cursor": {cursor}}
	if timeout > 0 {
		secs := (min(timeout, maxWatch) + time.Second - 1) / time.Second
		q.Set("timeout", strconv.FormatInt(int64(secs), 10))
	}
	var out Changes
	r := &request{method: http.MethodGet, path: "/v1/watch", query: q, auth: true}
	if err := c.call(ctx, op, r, true, nil, &out); err != nil {
		return nil, err
	}
	if err := checkChanges(&out, prefix); err != nil {
		return nil, c.bodyErr(ctx, op, prefix, err)
	}
	return &out, nil
}

// checkChanges checks that the names of a Watch are names of objects
// under prefix.
func checkChanges(ch *Changes, prefix string) error {
	for _, name := range ch.Names {
		if blob.ValidName(name) != nil || !strings.HasPrefix(name, prefix) {
			return badAnswer("watch of prefix %q names %.80q", prefix, name)
		}
	}
	return nil
}
