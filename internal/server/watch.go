package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of change notification.
const (
	feedEvents    = 1024     // puts remembered per account
	feedBytes     = 64 << 10 // bytes of names remembered per account
	maxFeeds      = 1024     // accounts with a feed; the least recently watched is dropped
	maxWatchNames = 1000     // names in one answer
	defaultWatch  = 25       // seconds
	maxWatch      = 60
)

// hub is the in-memory log of puts that watches wait on. Each account
// that is watched has a feed of its newest puts. Sequence numbers count
// puts server-wide, so they only grow; a cursor is the server's epoch
// (random at each start) and a sequence number. A cursor from another
// start, from before the oldest put a feed still holds, or from before a
// dropped feed was made again, cannot be answered: the answer is then
// reset, and the client lists what it needs.
type hub struct {
	epoch string

	mu      sync.Mutex
	seq     uint64 // of the newest put
	feeds   map[string]*feed
	tick    uint64 // orders feeds by last use
	waiting int

	maxWaiting, maxPerAccount int
}

type feed struct {
	base    uint64 // what happened up to base is not known here
	events  []event
	bytes   int
	wake    chan struct{} // closed and replaced at each put
	waiters int
	used    uint64
}

type event struct {
	seq  uint64
	name string
}

func newHub(maxWaiting, maxPerAccount int) *hub {
	var e [8]byte
	rand.Read(e[:])
	return &hub{epoch: hex.EncodeToString(e[:]), feeds: make(map[string]*feed),
		maxWaiting: maxWaiting, maxPerAccount: maxPerAccount}
}

// notify records that name was put into an account, waking its watches.
func (h *hub) notify(account, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	f := h.feeds[account]
	if f == nil {
		return // nobody holds a cursor this feed could answer
	}
	f.events = append(f.events, event{h.seq, name})
	f.bytes += len(name)
	for len(f.events) > feedEvents || f.bytes > feedBytes {
		f.base = f.events[0].seq
		f.bytes -= len(f.events[0].name)
		f.events = f.events[1:]
	}
	close(f.wake)
	f.wake = make(chan struct{})
}

// cursor is a position in the hub: "<epoch>-<seq>" on the wire.
type cursor struct {
	epoch string
	seq   uint64
}

func (c cursor) String() string { return c.epoch + "-" + strconv.FormatUint(c.seq, 10) }

// parseCursor parses a cursor: 16 lower-case hex digits, '-', and a
// decimal number. "" is no cursor.
func parseCursor(s string) (c cursor, ok bool) {
	if s == "" {
		return c, true
	}
	e, n, found := strings.Cut(s, "-")
	if !found || len(e) != 16 || len(n) == 0 || len(n) > 20 || (len(n) > 1 && n[0] == '0') {
		return c, false
	}
	if _, err := hex.DecodeString(e); err != nil || strings.ToLower(e) != e {
		return c, false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return c, false
		}
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return cursor{e, seq}, err == nil
}

type watchResp struct {
	Cursor string   `json:"cursor"`
	Names  []string `json:"names"`
	Reset  bool     `json:"reset"`
}

// watchQuery is what a watch asks: see docs/PROTOCOL.md.
type watchQuery struct {
	prefix  string
	cursor  cursor
	empty   bool // no cursor: answer the current one at once
	timeout time.Duration
}

func parseWatchQuery(raw string) (watchQuery, error) {
	q, err := parseQuery(raw)
	if err != nil {
		return watchQuery{}, err
	}
	var wq watchQuery
	if wq.prefix, err = q.namePart("prefix"); err != nil {
		return wq, err
	}
	c := q.get("cursor")
	var ok bool
	if wq.cursor, ok = parseCursor(c); !ok {
		return wq, invalid("cursor is not one this server gave")
	}
	wq.empty = c == ""
	secs, err := q.number("timeout", 0, maxWatch, defaultWatch)
	wq.timeout = time.Duration(secs) * time.Second
	return wq, err
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, ses *session) error {
	q, err := parseWatchQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	res, err := s.hub.wait(r.Context(), s.done, ses.account.ID, q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// wait answers a watch: the names put into the account under the prefix
// after the cursor, waiting for one up to the timeout.
func (h *hub) wait(ctx context.Context, done <-chan struct{}, account string, q watchQuery) (watchResp, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := h.feed(account)
	if err != nil {
		return watchResp{}, err
	}
	now := cursor{h.epoch, h.seq}
	switch {
	case q.empty:
		return watchResp{Cursor: now.String(), Names: []string{}}, nil
	case q.cursor.epoch != h.epoch || q.cursor.seq > h.seq || q.cursor.seq < f.base:
		return watchResp{Cursor: now.String(), Names: []string{}, Reset: true}, nil
	}
	timer := time.NewTimer(q.timeout)
	defer timer.Stop()
	expired := q.timeout == 0
	entered := false
	defer func() {
		if entered {
			h.leave(f)
		}
	}()
	for {
		if res, ok := h.since(f, q.cursor.seq, q.prefix); ok || expired {
			return res, nil
		}
		if !entered {
			if err := h.enter(f); err != nil {
				return watchResp{}, err
			}
			entered = true
		}
		wake := f.wake
		h.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			expired = true
		case <-ctx.Done():
			expired = true
		case <-done:
			expired = true
		}
		h.mu.Lock()
	}
}

// since returns the names of feed f's puts after seq that start with
// prefix, and whether there are any. The cursor it returns covers every
// put looked at.
func (h *hub) since(f *feed, seq uint64, prefix string) (watchResp, bool) {
	res := watchResp{Cursor: cursor{h.epoch, h.seq}.String(), Names: []string{}}
	seen := map[string]bool{}
	for _, e := range f.events {
		if e.seq <= seq || !strings.HasPrefix(e.name, prefix) || seen[e.name] {
			continue
		}
		if len(res.Names) == maxWatchNames {
			return res, true
		}
		seen[e.name] = true
		res.Names = append(res.Names, e.name)
		res.Cursor = cursor{h.epoch, e.seq}.String()
	}
	if len(res.Names) < maxWatchNames {
		res.Cursor = cursor{h.epoch, h.seq}.String()
	}
	return res, len(res.Names) > 0
}

// feed returns the account's feed, making it if needed; to make room it
// drops the least recently used feed that no one waits on.
func (h *hub) feed(account string) (*feed, error) {
	h.tick++
	if f := h.feeds[account]; f != nil {
		f.used = h.tick
		return f, nil
	}
	if len(h.feeds) >= maxFeeds {
		var oldest string
		for id, f := range h.feeds {
			if f.waiters == 0 && (oldest == "" || f.used < h.feeds[oldest].used) {
				oldest = id
			}
		}
		if oldest == "" {
			return nil, &apiError{code: codeUnavailable, msg: "too many watches; retry", retryAfter: time.Second}
		}
		delete(h.feeds, oldest)
	}
	f := &feed{base: h.seq, wake: make(chan struct{}), used: h.tick}
	h.feeds[account] = f
	return f, nil
}

// enter counts a waiting watch, within the bounds per account and in all.
func (h *hub) enter(f *feed) error {
	switch {
	case f.waiters >= h.maxPerAccount:
		return &apiError{code: codeRateLimited, msg: "too many watches waiting for this account", retryAfter: time.Second}
	case h.waiting >= h.maxWaiting:
		return &apiError{code: codeUnavailable, msg: "too many watches waiting; retry", retryAfter: time.Second}
	}
	f.waiters++
	h.waiting++
	return nil
}

func (h *hub) leave(f *feed) {
	f.waiters--
	h.waiting--
}

// waiters returns how many watches wait on an account, for tests.
func (h *hub) waiters(account string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.feeds[account]; f != nil {
		return f.waiters
	}
	return 0
}
