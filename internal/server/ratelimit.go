package server

import (
	"sync"
	"time"
)

// rate is a token bucket's shape: up to burst attempts at once, then one
// more each every.
type rate struct {
	burst float64
	every time.Duration
}

// The rates of attempts to prove a user (login, recovery, and the checks
// of a passphrase or TOTP code behind a token). An attempt takes a token
// before it is checked and gives it back if it succeeds, so these count
// failures, and parallel guesses cannot outrun them.
var (
	userRate   = rate{burst: 5, every: 20 * time.Second} // per user name: 3 guesses a minute
	addrRate   = rate{burst: 30, every: 2 * time.Second} // per client address, across user names
	signupRate = rate{burst: 10, every: 30 * time.Second}
)

// maxLimiterKeys bounds the memory of a limiter.
const maxLimiterKeys = 1 << 16

// limiter is a set of token buckets by key (a user name or an address).
// A key whose bucket is full is the same as an absent key, so when the
// map is full such keys are dropped; if none can be, every new key is
// refused until some bucket fills: memory stays bounded, and no
// attacker's flood of keys resets a bucket that is counting.
type limiter struct {
	rate    rate
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(r rate) *limiter {
	return &limiter{rate: r, buckets: make(map[string]*bucket)}
}

// take takes a token from key's bucket. If it is empty, it returns false
// and how long until a token comes.
func (l *limiter) take(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxLimiterKeys && !l.prune(now) {
			return l.rate.every, false
		}
		b = &bucket{tokens: l.rate.burst, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return time.Duration((1 - b.tokens) * float64(l.rate.every)), false
	}
	b.tokens--
	return 0, true
}

// give returns a token to key's bucket: the attempt succeeded.
func (l *limiter) give(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.buckets[key]; b != nil {
		l.refill(b, now)
		b.tokens = min(b.tokens+1, l.rate.burst)
	}
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.at); d > 0 {
		b.tokens = min(l.rate.burst, b.tokens+float64(d)/float64(l.rate.every))
		b.at = now
	}
}

// prune drops the keys whose buckets are full again, and reports whether
// it dropped any.
func (l *limiter) prune(now time.Time) bool {
	n := len(l.buckets)
	for k, b := range l.buckets {
		if l.refill(b, now); b.tokens >= l.rate.burst {
			delete(l.buckets, k)
		}
	}
	return len(l.buckets) < n
}

// attempt is one try at proving a user, counted against both the user
// name and the client's address.
type attempt struct {
	s          *Server
	user, addr string
}

// begin takes the attempt's tokens, or returns the rate_limited refusal.
func (s *Server) begin(user, addr string) (*attempt, error) {
	now := s.cfg.Now()
	wait, ok := s.addrs.take(addr, now)
	if ok {
		if wait, ok = s.users.take(user, now); !ok {
			s.addrs.give(addr, now)
		}
	}
	if !ok {
		s.log.Warn("rate limited", "user", user, "addr", addr)
		return nil, &apiError{code: codeRateLimited, msg: "too many attempts; retry later", retryAfter: max(wait, time.Second)}
	}
	return &attempt{s, user, addr}, nil
}

// succeeded gives the attempt's tokens back.
func (a *attempt) succeeded() {
	now := a.s.cfg.Now()
	a.s.addrs.give(a.addr, now)
	a.s.users.give(a.user, now)
}
