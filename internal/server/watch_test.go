package server

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// watch asks for changes; it may run in a goroutine of its own, so it
// reports a failure without stopping the test.
func (u *user) watch(prefix, cursor string, timeout int) watchResp {
	u.ts.t.Helper()
	r := u.ts.do("GET", "/v1/watch?prefix="+prefix+"&cursor="+cursor+"&timeout="+strconv.Itoa(timeout), u.token, nil)
	var w watchResp
	if err := json.Unmarshal(r.body, &w); r.status != 200 || err != nil {
		u.ts.t.Errorf("watch: %s", r)
	}
	return w
}

// waitFor polls until the account has n waiting watches.
func (ts *testServer) waitFor(account string, n int) {
	for ts.hub.waiters(account) != n {
		time.Sleep(time.Millisecond) // polling the server's state, not synchronising
	}
}

func TestWatch(t *testing.T) {
	ts := start(t, Config{Signup: true})
	alice, bob := ts.signup("alice"), ts.signup("bob")
	now := alice.watch("", "", 25)
	if now.Cursor == "" || len(now.Names) != 0 || now.Reset {
		t.Fatalf("watch without a cursor: %+v", now)
	}
	bobNow := bob.watch("", "", 0)
	// Alice's waiter wakes within milliseconds of a put; bob's does not
	// wake for alice's put.
	type result struct {
		w  watchResp
		at time.Time
	}
	aliceDone, bobDone := make(chan result), make(chan result)
	go func() { w := alice.watch("volumes/", now.Cursor, 30); aliceDone <- result{w, time.Now()} }()
	go func() { w := bob.watch("", bobNow.Cursor, 1); bobDone <- result{w, time.Now()} }()
	ts.waitFor(alice.account, 1)
	ts.waitFor(bob.account, 1)
	put := time.Now()
	want(t, "put", alice.put("volumes/v/x", []byte("x")), 204, "")
	a := <-aliceDone
	if len(a.w.Names) != 1 || a.w.Names[0] != "volumes/v/x" || a.w.Reset || a.w.Cursor == now.Cursor {
		t.Fatalf("alice's watch: %+v", a.w)
	}
	if d := a.at.Sub(put); d > 500*time.Millisecond {
		t.Fatalf("the watch woke %v after the put", d)
	}
	b := <-bobDone
	if len(b.w.Names) != 0 || b.w.Reset {
		t.Fatalf("bob's watch saw alice's put: %+v", b.w)
	}
	if d := b.at.Sub(put); d < 500*time.Millisecond {
		t.Fatalf("bob's watch returned %v after alice's put, before its timeout", d)
	}
	// Puts before the watch are answered at once; the prefix filters.
	want(t, "put other", alice.put("other/y", []byte("y")), 204, "")
	want(t, "put z", alice.put("volumes/v/z", []byte("z")), 204, "")
	w := alice.watch("volumes/", a.w.Cursor, 30)
	if strings.Join(w.Names, " ") != "volumes/v/z" {
		t.Fatalf("watch after two puts: %+v", w)
	}
	// Nothing new: a timeout of 0 answers at once, with the same cursor
	// or a later one.
	if w2 := alice.watch("volumes/", w.Cursor, 0); len(w2.Names) != 0 || w2.Reset {
		t.Fatalf("watch with nothing new: %+v", w2)
	}
	// A cursor from the future, or of another form, is refused or reset.
	future := strings.Split(w.Cursor, "-")[0] + "-99999999"
	if w := alice.watch("", future, 0); !w.Reset {
		t.Fatalf("a cursor from the future: %+v", w)
	}
	for _, q := range []string{"cursor=xyz", "cursor=0123456789abcdef-01", "cursor=0123456789ABCDEF-1", "timeout=61", "timeout=-1", "prefix=%2e%2e%00"} {
		want(t, "watch "+q, ts.do("GET", "/v1/watch?"+q, alice.token, nil), 400, codeInvalid)
	}
	// A restart resets every cursor.
	ts.stop()
	ts2 := start(t, Config{Data: ts.cfg.Data})
	alice.ts = ts2
	if w := alice.watch("volumes/", w.Cursor, 0); !w.Reset {
		t.Fatalf("a cursor from before a restart: %+v", w)
	}
}

func TestWatchBounds(t *testing.T) {
	ts := start(t, Config{Signup: true, MaxWatchesPerAccount: 2, MaxWatches: 3})
	alice, bob := ts.signup("alice"), ts.signup("bob")
	c, cb := alice.watch("", "", 0).Cursor, bob.watch("", "", 0).Cursor
	done := make(chan watchResp, 3)
	for range 2 {
		go func() { done <- alice.watch("", c, 30) }()
	}
	ts.waitFor(alice.account, 2)
	want(t, "a third watch of one account", ts.do("GET", "/v1/watch?cursor="+c, alice.token, nil), 429, codeRateLimited)
	go func() { done <- bob.watch("", cb, 30) }()
	ts.waitFor(bob.account, 1)
	want(t, "a watch over the server's bound", ts.do("GET", "/v1/watch?cursor="+cb, bob.token, nil), 503, codeUnavailable)
	// A watch without a cursor does not wait, so it is not bounded.
	want(t, "a watch without a cursor", ts.do("GET", "/v1/watch", alice.token, nil), 200, "")
	want(t, "put", alice.put("a", []byte("a")), 204, "")
	want(t, "put", bob.put("b", []byte("b")), 204, "")
	for range 3 {
		if w := <-done; len(w.Names) != 1 {
			t.Fatalf("a waiting watch after the puts: %+v", w)
		}
	}
	// A shutdown ends waiting watches at once.
	c = alice.watch("", "", 0).Cursor
	go func() { done <- alice.watch("", c, 60) }()
	ts.waitFor(alice.account, 1)
	stopped := time.Now()
	ts.stop()
	<-done
	if d := time.Since(stopped); d > 10*time.Second {
		t.Fatalf("shutdown took %v with a watch waiting", d)
	}
}

// The hub forgets old puts: a cursor older than what a feed holds resets.
func TestHubForgets(t *testing.T) {
	h := newHub(10, 10)
	q := watchQuery{empty: true}
	r, err := h.wait(t.Context(), nil, "a", q)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := parseCursor(r.Cursor)
	for i := range feedEvents + 1 {
		h.notify("a", "n"+strconv.Itoa(i))
	}
	h.notify("b", "other account")
	r, _ = h.wait(t.Context(), nil, "a", watchQuery{cursor: c})
	if !r.Reset {
		t.Fatalf("a cursor older than the feed: %+v", r.Names[:3])
	}
	c, _ = parseCursor(r.Cursor)
	h.notify("a", "new")
	if r, _ = h.wait(t.Context(), nil, "a", watchQuery{cursor: c}); r.Reset || len(r.Names) != 1 || r.Names[0] != "new" {
		t.Fatalf("after a reset: %+v", r)
	}
	// Many names are answered in pages of maxWatchNames.
	c, _ = parseCursor(r.Cursor)
	for i := range maxWatchNames + 5 {
		h.notify("a", "m"+strconv.Itoa(i))
	}
	r, _ = h.wait(t.Context(), nil, "a", watchQuery{cursor: c})
	if len(r.Names) != maxWatchNames || r.Reset {
		t.Fatalf("first page: %d names", len(r.Names))
	}
	c, _ = parseCursor(r.Cursor)
	r, _ = h.wait(t.Context(), nil, "a", watchQuery{cursor: c})
	if len(r.Names) != 5 || r.Names[0] != "m"+strconv.Itoa(maxWatchNames) {
		t.Fatalf("second page: %v", r.Names)
	}
	// Feeds beyond maxFeeds drop the least recently used.
	for i := range maxFeeds {
		h.wait(t.Context(), nil, "acct"+strconv.Itoa(i), watchQuery{empty: true})
	}
	if len(h.feeds) > maxFeeds {
		t.Fatalf("%d feeds", len(h.feeds))
	}
	if r, _ = h.wait(t.Context(), nil, "a", watchQuery{cursor: c}); !r.Reset {
		t.Fatal("a dropped feed's cursor did not reset")
	}
}
