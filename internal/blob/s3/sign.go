package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// emptySum is the hex SHA-256 of no bytes, the payload hash of a request
// without a body.
const emptySum = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// signer signs requests with AWS Signature Version 4 for the service s3.
type signer struct {
	access, secret, token string
	region                string

	mu   sync.Mutex
	day  string // the day the key is of, YYYYMMDD
	key  []byte // HMAC chain of secret, day, region, "s3", "aws4_request"
	scop string // day/region/s3/aws4_request
}

// signingKey returns the key and the credential scope of day, made once a
// day.
func (s *signer) signingKey(day string) ([]byte, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.day != day {
		k := hmacSum([]byte("AWS4"+s.secret), day)
		k = hmacSum(k, s.region)
		k = hmacSum(k, "s3")
		s.key = hmacSum(k, "aws4_request")
		s.day, s.scop = day, day+"/"+s.region+"/s3/aws4_request"
	}
	return s.key, s.scop
}

func hmacSum(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// sign sets the headers that sign req at now: x-amz-date,
// x-amz-content-sha256 (payload, the hex SHA-256 of the body), the
// session token if any, and Authorization. It signs the host and every
// x-amz-* header, and Range, Content-Type and Content-MD5 if set.
func (s *signer) sign(req *http.Request, payload string, now time.Time) {
	now = now.UTC()
	stamp := now.Format("20060102T150405Z")
	req.Header.Set("X-Amz-Date", stamp)
	req.Header.Set("X-Amz-Content-Sha256", payload)
	if s.token != "" {
		req.Header.Set("X-Amz-Security-Token", s.token)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	names := []string{"host"}
	values := map[string]string{"host": host}
	for k, v := range req.Header {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, "x-amz-") || lk == "range" || lk == "content-type" || lk == "content-md5" {
			names = append(names, lk)
			for i := range v {
				v[i] = strings.Join(strings.Fields(v[i]), " ")
			}
			values[lk] = strings.Join(v, ",")
		}
	}
	sort.Strings(names)
	var canon strings.Builder
	canon.WriteString(req.Method)
	canon.WriteByte('\n')
	canon.WriteString(escapePath(req.URL.Path))
	canon.WriteByte('\n')
	canon.WriteString(canonicalQuery(req.URL.Query()))
	canon.WriteByte('\n')
	for _, n := range names {
		canon.WriteString(n)
		canon.WriteByte(':')
		canon.WriteString(values[n])
		canon.WriteByte('\n')
	}
	signed := strings.Join(names, ";")
	canon.WriteByte('\n')
	canon.WriteString(signed)
	canon.WriteByte('\n')
	canon.WriteString(payload)
	sum := sha256.Sum256([]byte(canon.String()))
	key, scope := s.signingKey(stamp[:8])
	toSign := "AWS4-HMAC-SHA256\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+s.access+"/"+scope+
		",SignedHeaders="+signed+",Signature="+hex.EncodeToString(hmacSum(key, toSign)))
}

// canonicalQuery is the query sorted by key, keys and values escaped as
// SigV4 asks.
func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(escape(k, true))
			b.WriteByte('=')
			b.WriteString(escape(v, true))
		}
	}
	return b.String()
}

// escapePath escapes a path as SigV4 and S3 want it: every byte but the
// unreserved characters and '/'.
func escapePath(p string) string {
	if p == "" {
		return "/"
	}
	return escape(p, false)
}

// escape percent-encodes every byte of s but A-Z, a-z, 0-9, '-', '_', '.',
// '~', and '/' unless slash.
func escape(s string, slash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !slash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
