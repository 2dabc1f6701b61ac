package remote

import (
	"context"
	stderrors "errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

var unavailable = failure{503, CodeUnavailable, "shutting down", ""}

// Reads, lists, deletes and puts of hash names are retried on 503.
func TestRetry503(t *testing.T) {
	f, c := newFake(t)
	s := c.Store()
	data := []byte("retried")
	name := hashName("data", data)
	f.failN("/v1/o/"+name, 2, unavailable)
	if err := s.Put(t.Context(), name, data); err != nil {
		t.Fatalf("Put after two 503s: %v", err)
	}
	if n := f.count("PUT /v1/o/" + name); n != 3 {
		t.Errorf("Put was sent %d times, want 3", n)
	}
	for _, op := range []struct {
		key string
		fn  func() error
	}{
		{"GET /v1/o/" + name, func() error { _, err := s.Get(t.Context(), name, 0, -1); return err }},
		{"HEAD /v1/o/" + name, func() error { _, err := s.Stat(t.Context(), name); return err }},
		{"DELETE /v1/o/" + name, func() error { return s.Delete(t.Context(), name) }},
		{"GET /v1/list", func() error { return s.List(t.Context(), "", func(blob.Info) error { return nil }) }},
		{"GET /v1/watch", func() error { _, err := c.Watch(t.Context(), "", "", 0); return err }},
	} {
		path := op.key[strings.IndexByte(op.key, ' ')+1:]
		f.failN(path, 3, unavailable)
		before := f.count(op.key)
		if err := op.fn(); err != nil {
			t.Errorf("%s after three 503s: %v", op.key, err)
		}
		if n := f.count(op.key) - before; n != 4 {
			t.Errorf("%s was sent %d times, want 4", op.key, n)
		}
	}
}

// Attempts end: the last failure is returned.
func TestRetryGivesUp(t *testing.T) {
	f, c := newFake(t)
	f.failN("/v1/o/obj", 100, unavailable)
	_, err := c.Store().Get(t.Context(), "obj", 0, -1)
	if errors.KindOf(err) != errors.Unavailable || Code(err) != CodeUnavailable {
		t.Errorf("Get of an unavailable server: %v", err)
	}
	if n := f.count("GET /v1/o/obj"); n != c.retry.attempts {
		t.Errorf("Get was sent %d times, want %d", n, c.retry.attempts)
	}
}

// A client error other than 429 is never retried, nor a put of a name
// that does not promise its hash, nor any account route that is not a
// read.
func TestNoRetry(t *testing.T) {
	f, c := newFake(t)
	s := c.Store()
	for _, fl := range []failure{
		{400, CodeInvalid, "bad", ""},
		{422, CodeCorrupt, "bad bytes", ""},
		{401, CodeUnauthenticated, "who", ""},
		{404, CodeNotFound, "none", ""},
		{507, CodeQuotaExceeded, "full", ""},
		{500, CodeInternal, "oops", ""},
	} {
		f.failN("/v1/o/obj", 100, fl)
		before := f.count("GET /v1/o/obj")
		s.Get(t.Context(), "obj", 0, -1)
		if n := f.count("GET /v1/o/obj") - before; n != 1 {
			t.Errorf("Get answered %d was sent %d times, want once", fl.status, n)
		}
	}
	f.failN("/v1/o/plain", 100, unavailable)
	if err := s.Put(t.Context(), "plain", []byte("x")); errors.KindOf(err) != errors.Unavailable {
		t.Errorf("Put answered 503: %v", err)
	}
	if n := f.count("PUT /v1/o/plain"); n != 1 {
		t.Errorf("Put of a name without a hash was sent %d times, want once", n)
	}
	f.failN("/v1/login", 100, unavailable)
	c.Login(t.Context(), &LoginRequest{User: "u"})
	if n := f.count("POST /v1/login"); n != 1 {
		t.Errorf("Login was sent %d times, want once", n)
	}
}

// A 429 is retried after the Retry-After the server asks for, if that
// is short; a long one fails at once and says how long.
func TestRetryAfter(t *testing.T) {
	f, c := newFake(t)
	s := c.Store()
	if err := s.Put(t.Context(), "obj", []byte("x")); err != nil {
		t.Fatal(err)
	}
	f.failN("/v1/o/obj", 1, failure{429, CodeRateLimited, "slow down", "1"})
	start := time.Now()
	if _, err := s.Get(t.Context(), "obj", 0, -1); err != nil {
		t.Fatalf("Get after a 429: %v", err)
	}
	if n := f.count("GET /v1/o/obj"); n != 2 {
		t.Errorf("Get was sent %d times, want 2", n)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("Get retried after %v, before the Retry-After of 1 s", d)
	}

	f.failN("/v1/o/obj", 1, failure{429, CodeRateLimited, "slow down", "3600"})
	_, err := s.Get(t.Context(), "obj", 0, -1)
	if Code(err) != CodeRateLimited || RetryAfter(err) != time.Hour || errors.KindOf(err) != errors.Unavailable {
		t.Errorf("Get answered 429 with an hour to wait: %v", err)
	}
	if n := f.count("GET /v1/o/obj"); n != 3 {
		t.Errorf("a Retry-After over the bound was retried: %d requests, want 3", n)
	}
}

// A wait between attempts ends when the context does.
func TestRetryCancel(t *testing.T) {
	f, c := newFake(t)
	c.retry.base, c.retry.max = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan struct{})
	f.setInject(func(r *http.Request) *failure {
		select {
		case <-first:
		default:
			close(first)
		}
		return &unavailable
	})
	go func() {
		<-first
		cancel()
	}()
	_, err := c.Store().Get(ctx, "obj", 0, -1)
	if !stderrors.Is(err, context.Canceled) {
		t.Errorf("Get cancelled while waiting: %v", err)
	}
}

// A server that cannot be reached is Unavailable, named in the message,
// and retried.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := New("http://"+addr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.retry.base, c.retry.max = time.Millisecond, time.Millisecond
	_, err = c.Store().Stat(t.Context(), "obj")
	if errors.KindOf(err) != errors.Unavailable || !strings.Contains(err.Error(), "the server "+addr+" refused the connection") {
		t.Errorf("Stat of a closed port: %v", err)
	}
	c, _ = New("http://unknown-host.invalid", Options{AllowPlainHTTP: true})
	c.retry.base, c.retry.max = time.Millisecond, time.Millisecond
	_, err = c.Account(t.Context())
	if errors.KindOf(err) != errors.Unavailable || !strings.Contains(err.Error(), "cannot find the server unknown-host.invalid") {
		t.Errorf("Account of an unknown host: %v", err)
	}
}

// The backoff grows, stays within its bounds, and is jittered.
func TestBackoff(t *testing.T) {
	p := retryPolicy{attempts: 10, base: 100 * time.Millisecond, max: time.Second, maxAfter: time.Second}
	err := errors.E(errors.Unavailable, &netError{text: "x", err: errors.Str("y"), transient: true})
	for attempt := 1; attempt < 10; attempt++ {
		cap := min(p.base<<(attempt-1), p.max)
		d, ok := p.wait(err, attempt)
		if !ok || d < cap/2 || d > cap {
			t.Errorf("wait after attempt %d = %v, %v; want in [%v, %v]", attempt, d, ok, cap/2, cap)
		}
	}
	if _, ok := p.wait(errors.E(errors.Unavailable, &netError{err: errors.Str("y")}), 1); ok {
		t.Error("a permanent network failure is retried")
	}
}

// A FailFast client (a server that is one mirror of a set) does not try a
// refused connection again; a plain client does. Both say what happened.
func TestFailFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, fast := range []bool{false, true} {
		c, err := New("http://"+addr, Options{FailFast: fast})
		if err != nil {
			t.Fatal(err)
		}
		c.retry.attempts = 1 // classify the first failure only
		_, err = c.Store().Stat(t.Context(), "obj")
		if errors.KindOf(err) != errors.Unavailable || !strings.Contains(err.Error(), "refused the connection") {
			t.Fatalf("FailFast %v: Stat of a closed port: %v", fast, err)
		}
		if _, again := defaultRetry.wait(err, 1); again == fast {
			t.Errorf("FailFast %v: a refused connection is tried again: %v", fast, again)
		}
	}
	c, _ := New("http://unknown-host.invalid", Options{AllowPlainHTTP: true, FailFast: true})
	c.retry.attempts = 1
	_, err = c.Account(t.Context())
	if _, again := defaultRetry.wait(err, 1); again || errors.KindOf(err) != errors.Unavailable {
		t.Errorf("FailFast: an unknown host: %v, tried again %v", err, again)
	}
}
