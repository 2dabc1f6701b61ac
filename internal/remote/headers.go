package remote

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps what parseRetryAfter returns, so that no header can
// overflow a time.Duration.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header: a number of seconds, or an
// HTTP date (then relative to now; a date in the past means now).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if n, ok := parseDigits(v); ok {
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	return min(max(d, 0), maxRetryAfter), true
}

// parseDigits parses a non-negative decimal number of only digits, with
// no sign, that fits an int64.
func parseDigits(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// contentRange is a Content-Range header: bytes first to last (inclusive)
// of an object of size bytes. first and last are -1 in the answer to an
// unsatisfiable range ("bytes */size"), size is -1 if unknown ("/*").
type contentRange struct {
	first, last, size int64
}

// parseContentRange reads a Content-Range header of a byte range.
func parseContentRange(v string) (contentRange, bool) {
	bad := contentRange{-1, -1, -1}
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return bad, false
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return bad, false
	}
	cr := bad
	if total != "*" {
		if cr.size, ok = parseDigits(total); !ok {
			return bad, false
		}
	}
	if span == "*" {
		return cr, cr.size >= 0
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return bad, false
	}
	first, ok1 := parseDigits(a)
	last, ok2 := parseDigits(b)
	if !ok1 || !ok2 || last < first || cr.size >= 0 && last >= cr.size {
		return bad, false
	}
	cr.first, cr.last = first, last
	return cr, true
}

// parseMtime reads an X-Dvpc-Mtime header: Unix time in nanoseconds.
func parseMtime(v string) (time.Time, bool) {
	neg := strings.HasPrefix(v, "-")
	n, ok := parseDigits(strings.TrimPrefix(v, "-"))
	if !ok {
		return time.Time{}, false
	}
	if neg {
		n = -n
	}
	return time.Unix(0, n), true
}
