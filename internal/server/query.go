package server

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
)

// parseRange parses a Range header for an object of size bytes and
// returns the span to send. It takes "" (the whole object, partial false),
// "bytes=A-B" and "bytes=A-"; an end past the object is cut to it. Other
// forms (several ranges, a suffix "bytes=-N", spaces) are invalid; a start
// at or past the end is bad_range.
func parseRange(h string, size int64) (off, n int64, partial bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return 0, 0, false, invalid("Range must be bytes=A-B or bytes=A-")
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, 0, false, invalid("Range must be bytes=A-B or bytes=A-")
	}
	start, ok := parseUint(a)
	if !ok {
		return 0, 0, false, invalid("Range must be bytes=A-B or bytes=A-")
	}
	end := size - 1
	if b != "" {
		e, ok := parseUint(b)
		if !ok || e < start {
			return 0, 0, false, invalid("Range must be bytes=A-B with A <= B, or bytes=A-")
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, false, refuse(codeBadRange, "the range starts at or after the end of the object")
	}
	return start, end - start + 1, true, nil
}

// parseUint parses a non-negative decimal int64 of digits only.
func parseUint(s string) (int64, bool) {
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

// query is a request's parsed query string. A parameter given twice is
// invalid; unknown parameters are ignored.
type query url.Values

func parseQuery(raw string) (query, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, invalid("malformed query string")
	}
	for _, vs := range v {
		if len(vs) > 1 {
			return nil, invalid("a query parameter is given twice")
		}
	}
	return query(v), nil
}

func (q query) get(key string) string { return url.Values(q).Get(key) }

// namePart returns the parameter key, which must be a prefix of an object
// name: at most blob.MaxNameLen bytes of the characters names use.
func (q query) namePart(key string) (string, error) {
	s := q.get(key)
	if len(s) > blob.MaxNameLen {
		return "", invalid(key + " is longer than any object name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return "", invalid(key + " holds a character no object name has")
		}
	}
	return s, nil
}

// number returns the parameter key as an integer in [lo, hi], or def if
// it is absent.
func (q query) number(key string, lo, hi, def int64) (int64, error) {
	s := q.get(key)
	if s == "" {
		return def, nil
	}
	n, ok := parseUint(s)
	if !ok || n < lo || n > hi {
		return 0, invalid(key + " must be a whole number from " + itoa(lo) + " to " + itoa(hi))
	}
	return n, nil
}

// The bounds of list.
const maxList = 10000

type listQuery struct {
	prefix, after string
	limit         int
}

func parseListQuery(raw string) (listQuery, error) {
	q, err := parseQuery(raw)
	if err != nil {
		return listQuery{}, err
	}
	var lq listQuery
	if lq.prefix, err = q.namePart("prefix"); err != nil {
		return lq, err
	}
	if lq.after, err = q.namePart("after"); err != nil {
		return lq, err
	}
	limit, err := q.number("limit", 1, maxList, maxList)
	lq.limit = int(limit)
	return lq, err
}
