package remote

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// retryPolicy says how often and how long to wait between attempts of a
// request that may be repeated.
type retryPolicy struct {
	attempts int           // in all, the first one included
	base     time.Duration // wait before the second attempt, doubled for each next one
	max      time.Duration // longest wait between attempts
	maxAfter time.Duration // longest Retry-After honoured; a longer one fails at once
}

var defaultRetry = retryPolicy{
	attempts: 4,
	base:     250 * time.Millisecond,
	max:      4 * time.Second,
	maxAfter: 10 * time.Second,
}

// try runs f, and if idempotent runs it again while it fails in a way that
// may pass: the connection failed or broke, or the server answered 502,
// 503, 504, or 429 with a Retry-After of at most maxAfter. It waits
// between attempts as the server asked, or with jittered exponential
// backoff, and returns early if ctx is done.
func (c *Client) try(ctx context.Context, op errors.Op, name string, idempotent bool, f func() error) error {
	p := c.retry
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !idempotent || attempt >= p.attempts {
			return err
		}
		wait, ok := p.wait(err, attempt)
		if !ok {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.E(op, name, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
	}
}

// wait returns how long to wait after attempt failed with err, and whether
// to try again at all.
func (p retryPolicy) wait(err error, attempt int) (time.Duration, bool) {
	var se *serverError
	var ne *netError
	switch {
	case errors.As(err, &se):
		switch se.Status {
		case 429, 502, 503, 504:
		default:
			return 0, false
		}
		if se.RetryAfter > 0 {
			return se.RetryAfter, se.RetryAfter <= p.maxAfter
		}
	case errors.As(err, &ne):
		if !ne.transient {
			return 0, false
		}
	default:
		return 0, false
	}
	d := p.base << (attempt - 1)
	if d > p.max || d <= 0 {
		d = p.max
	}
	// Full jitter over the upper half: spread the clients that failed
	// together, without ever retrying at once.
	return d/2 + rand.N(d/2+1), true
}
