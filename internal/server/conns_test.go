package server

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// Connections past MaxConns wait until one closes: idle clients cannot
// exhaust the server's file descriptors.
func TestMaxConns(t *testing.T) {
	ts := start(t, Config{MaxConns: 2})
	addr := ts.Addr()
	var idle []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	get := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+"/v1/prelogin?user=someone", nil)
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	// Both slots are taken by clients that send nothing: a third is not
	// served (it waits in the backlog; the bound on this wait is the test's
	// only timing, and a longer machine stall would only make it pass).
	if err := get(300 * time.Millisecond); err == nil {
		t.Fatal("a third connection was served past MaxConns = 2")
	}
	idle[0].Close()
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("after one connection closed: %v", err)
	}
}
