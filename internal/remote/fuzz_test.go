package remote

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// Fuzz targets for every parser of bytes from the server: headers, error
// bodies, JSON answers, and the body of a ranged GET.

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-5/*", "bytes */100", "bytes 9-0/10", "bytes -1-2/3", "bytes +1-2/3", "bytes 0-99999999999999999999/1", "bytes */*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cr, ok := parseContentRange(s)
		if !ok {
			return
		}
		switch {
		case cr.first < 0 && (cr.last >= 0 || cr.size < 0):
			t.Fatalf("%q: unsatisfied range %+v", s, cr)
		case cr.first >= 0 && (cr.last < cr.first || cr.size >= 0 && cr.last >= cr.size):
			t.Fatalf("%q: inconsistent range %+v", s, cr)
		}
		total := "*"
		if cr.size >= 0 {
			total = strconv.FormatInt(cr.size, 10)
		}
		span := "*"
		if cr.first >= 0 {
			span = strconv.FormatInt(cr.first, 10) + "-" + strconv.FormatInt(cr.last, 10)
		}
		if again, ok := parseContentRange("bytes " + span + "/" + total); !ok || again != cr {
			t.Fatalf("%q: %+v does not round-trip", s, cr)
		}
	})
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "7", "3600", " 5 ", "-1", "1.5", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", ""} {
		f.Add(s)
	}
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if !ok && d != 0 || d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", s, d, ok)
		}
	})
}

func FuzzMtime(f *testing.F) {
	for _, s := range []string{"0", "1700000000123456789", "-5", "+5", "1e9", "9223372036854775807", "9223372036854775808", "-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseMtime(s)
		if !ok {
			return
		}
		if got := strconv.FormatInt(tm.UnixNano(), 10); strings.TrimLeft(strings.TrimPrefix(s, "-"), "0") != strings.TrimLeft(strings.TrimPrefix(got, "-"), "0") {
			t.Fatalf("parseMtime(%q) = %v (%s)", s, tm, got)
		}
	})
}

func FuzzErrorBody(f *testing.F) {
	f.Add(401, []byte(`{"error": "bad_credentials", "message": "wrong user name or passphrase"}`), "", "")
	f.Add(429, []byte(`{"error": "rate_limited", "message": "slow down"}`), "30", "")
	f.Add(416, []byte(`{"error": "bad_range"}`), "", "bytes */10")
	f.Add(502, []byte(`<html>`), "", "")
	f.Add(301, []byte(nil), "", "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter, contentRange string) {
		h := http.Header{"Retry-After": {retryAfter}, "Content-Range": {contentRange}, "Location": {string(body)}}
		e := parseError(status, h, body)
		if e.Error() == "" || e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("parseError(%d, %q) = %+v", status, body, e)
		}
		for _, r := range e.Message + e.Code {
			if !unicode.IsPrint(r) {
				t.Fatalf("parseError(%d, %q) keeps %q", status, body, r)
			}
		}
		e.kind()
	})
}

func FuzzResponses(f *testing.F) {
	f.Add([]byte(`{"objects": [{"name": "a/b", "size": 3, "mtime": "2025-01-02T03:04:05.123456789Z"}], "more": true}`))
	f.Add([]byte(`{"cursor": "12", "names": ["a/b"], "reset": false}`))
	f.Add([]byte(`{"devices": [{"id": "0123456789abcdef0123456789abcdef", "revoked": null, "current": true}]}`))
	f.Add([]byte(`{"kdf": {"time": 3, "memory_kib": 65536, "threads": 4}, "salt": "MDEyMzQ1Njc4OWFiY2RlZg=="}`))
	f.Add([]byte(`{"user": "u", "created": "2025-01-02T03:04:05Z", "quota": 0, "totp": true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var page listPage
		if decodeJSON(bytes.NewReader(b), maxListJSON, &page) == nil {
			checkPage(&page, "a", "")
		}
		var ch Changes
		if decodeJSON(bytes.NewReader(b), maxListJSON, &ch) == nil {
			checkChanges(&ch, "a/")
		}
		for _, v := range []any{&PreloginReply{}, &Session{}, &Account{}, &TOTPSecret{}, &struct{ Devices []Device }{}, &struct{ Account []byte }{}} {
			decodeJSON(bytes.NewReader(b), maxJSON, v)
		}
	})
}

// FuzzReadRange feeds any answer to a ranged GET to the code that reads
// it: it returns no more than was asked, and only bytes of the body.
func FuzzReadRange(f *testing.F) {
	f.Add(206, "bytes 2-4/10", int64(3), []byte("234"), int64(2), int64(3))
	f.Add(200, "", int64(10), []byte("0123456789"), int64(2), int64(3))
	f.Add(200, "", int64(-1), []byte("0123456789"), int64(8), int64(-1))
	f.Add(206, "bytes 0-0/*", int64(-1), []byte("0"), int64(0), int64(5))
	f.Fuzz(func(t *testing.T, status int, contentRange string, contentLength int64, body []byte, off, length int64) {
		if off < 0 || length == 0 || contentLength > int64(len(body)) {
			return
		}
		if cr, ok := parseContentRange(contentRange); ok && cr.last-cr.first > 1<<20 {
			return // would only make a large buffer
		}
		resp := func() *http.Response {
			return &http.Response{
				StatusCode:    status,
				Header:        http.Header{"Content-Range": {contentRange}},
				ContentLength: contentLength,
				Body:          io.NopCloser(bytes.NewReader(body)),
			}
		}
		got, err := readRange(resp(), off, length)
		if err == nil && (length > 0 && int64(len(got)) > length || !bytes.Contains(body, got)) {
			t.Fatalf("readRange = %q from body %q, asked %d at %d", got, body, length, off)
		}
		if length < 0 || length > 1<<16 {
			return
		}
		p := make([]byte, length)
		n, _, err := readInto(resp(), off, p)
		if n < 0 || n > len(p) || err == nil && !bytes.Contains(body, p[:n]) {
			t.Fatalf("readInto = %d, %v", n, err)
		}
	})
}
