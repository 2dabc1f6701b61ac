package s3

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	stderrors "errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// client speaks the part of S3's REST API a store needs to one bucket:
// HEAD, GET, PUT and DELETE of objects, ListObjectsV2, HEAD and PUT of
// the bucket, each request signed with SigV4. It is the whole of the S3
// client: a library that does all of S3 cost every command several
// milliseconds of start (its packages' init) for the four calls.
type client struct {
	hc       *http.Client
	scheme   string // "http" or "https"
	host     string // the endpoint, or bucket.endpoint (virtual)
	bucket   string
	virtual  bool // the bucket is in the host name, not the path
	sig      *signer
	attempts int
}

func newClient(cfg Config) *client {
	c := &client{
		hc: &http.Client{
			Transport: transport(),
			// A redirect (a bucket of another region, answered 301)
			// is an answer, not a place to go with the same signature.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		scheme:   "http",
		host:     cfg.Endpoint,
		bucket:   cfg.Bucket,
		sig:      &signer{access: cfg.AccessKey, secret: cfg.SecretKey, token: cfg.SessionToken, region: cfg.Region},
		attempts: max(cfg.Attempts, 1),
	}
	if cfg.Secure {
		c.scheme = "https"
	}
	// The scheme's own port goes unsaid, as every client sends the Host
	// header (and signs it).
	if h, port, err := net.SplitHostPort(cfg.Endpoint); err == nil && (port == "443" && cfg.Secure || port == "80" && !cfg.Secure) {
		c.host = h
		if strings.Contains(h, ":") {
			c.host = "[" + h + "]"
		}
	}
	// AWS wants the bucket in the host name; every other store takes it
	// in the path, which works for any bucket name. A name with dots
	// would not match the certificate of *.s3.amazonaws.com.
	if h, _, _ := strings.Cut(cfg.Endpoint, ":"); strings.HasSuffix(h, ".amazonaws.com") && !strings.Contains(cfg.Bucket, ".") {
		c.virtual, c.host = true, cfg.Bucket+"."+c.host
	}
	if c.sig.region == "" {
		c.sig.region = "us-east-1"
	}
	return c
}

// where names the bucket in messages: scheme, host and, in the path style,
// bucket.
func (cl *client) where() string {
	if cl.virtual {
		return cl.scheme + "://" + cl.host
	}
	return cl.scheme + "://" + cl.host + "/" + cl.bucket
}

// call is one request to the bucket.
type call struct {
	method string
	key    string // "" for the bucket itself
	query  url.Values
	header http.Header
	body   io.ReaderAt // nil for none; read from its start at each attempt
	size   int64       // of body
	sum    string      // hex SHA-256 of body; emptySum without one
}

// respError is an error answer of the service.
type respError struct {
	Status  int
	Code    string // S3's error code, "" if the answer gave none
	Message string
	Region  string // the bucket's region, if the answer said (x-amz-bucket-region)
}

func (e *respError) Error() string {
	s := strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	if e.Code != "" {
		s += ": " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// do sends c, again while it fails in a way that may pass (no answer, or
// an answer that says to come back), at most cl.attempts times in all
// with jittered exponential backoff. It returns the response of a 2xx
// answer, whose body the caller closes, or an error: *respError for an
// error answer.
func (cl *client) do(ctx context.Context, c call) (*http.Response, error) {
	if c.sum == "" {
		c.sum = emptySum
	}
	for attempt := 1; ; attempt++ {
		resp, err := cl.once(ctx, c)
		if err == nil || attempt >= cl.attempts || !retryable(err) || ctx.Err() != nil {
			return resp, err
		}
		d := min(200*time.Millisecond<<(attempt-1), 2*time.Second)
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// once sends c once.
func (cl *client) once(ctx context.Context, c call) (*http.Response, error) {
	u := &url.URL{Scheme: cl.scheme, Host: cl.host, Path: "/"}
	if !cl.virtual {
		u.Path += cl.bucket
		if c.key != "" {
			u.Path += "/"
		}
	}
	u.Path += c.key
	u.RawPath = escapePath(u.Path)
	if c.query != nil {
		u.RawQuery = canonicalQuery(c.query)
	}
	var body io.Reader
	if c.body != nil {
		// A reader of its own for each attempt: the transport may still
		// read the body of a failed request after Do returns.
		body = io.NewSectionReader(c.body, 0, c.size)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.body != nil {
		req.ContentLength = c.size
		if c.size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range c.header {
		req.Header[k] = append([]string(nil), v...)
	}
	cl.sig.sign(req, c.sum, time.Now())
	resp, err := cl.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	re := readError(resp)
	re.Region = clip(resp.Header.Get("X-Amz-Bucket-Region"), 64)
	return nil, re
}

// readError reads the error answer resp; its body is closed by the caller.
func readError(resp *http.Response) *respError {
	e := &respError{Status: resp.StatusCode}
	var doc struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody)); err == nil && len(b) > 0 && xml.Unmarshal(b, &doc) == nil {
		e.Code, e.Message = clip(doc.Code, 64), clip(doc.Message, 256)
	}
	if e.Code == "" && resp.StatusCode == http.StatusNotFound {
		e.Code = "NotFound" // a HEAD answer has no body to say more
	}
	return e
}

// clip cuts s, a string from the service, to at most n bytes of printable
// text for a message.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}

// retryable reports whether a request that failed with err may pass if
// tried again: no answer came, or the answer says the service is busy or
// broke.
func retryable(err error) bool {
	var cert *tls.CertificateVerificationError
	if stderrors.As(err, &cert) {
		return false // the same certificate comes again
	}
	re, ok := err.(*respError)
	if !ok {
		return true // the connection failed or broke
	}
	switch re.Code {
	case "SlowDown", "SlowDownRead", "SlowDownWrite", "ServiceUnavailable", "Throttling",
		"RequestLimitExceeded", "RequestTimeout", "InternalError":
		return true
	}
	switch re.Status {
	case 429, 500, 502, 503, 504:
		return true
	}
	return false
}

// headBucket asks whether the bucket exists, and returns the region the
// answer names in x-amz-bucket-region (AWS sends it, even with a
// refusal), if any.
func (cl *client) headBucket(ctx context.Context) (ok bool, region string, err error) {
	resp, err := cl.do(ctx, call{method: http.MethodHead})
	if err == nil {
		resp.Body.Close()
		return true, resp.Header.Get("X-Amz-Bucket-Region"), nil
	}
	if re, is := err.(*respError); is {
		if re.Status == http.StatusNotFound {
			return false, re.Region, nil
		}
		return false, re.Region, err
	}
	return false, "", err
}

// setRegion signs from now on for region.
func (cl *client) setRegion(region string) {
	cl.sig.mu.Lock()
	cl.sig.region, cl.sig.day = region, ""
	cl.sig.mu.Unlock()
}

// createBucket makes the bucket, for tests and the setup of a store.
func (cl *client) createBucket(ctx context.Context) error {
	resp, err := cl.do(ctx, call{method: http.MethodPut})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// CreateBucket makes the bucket cfg names on its store, with cfg's
// credentials: for a test server, or a new store. DVPC itself never makes
// a bucket.
func CreateBucket(ctx context.Context, cfg Config) error {
	return newClient(cfg).createBucket(ctx)
}

// listPage is one page of ListObjectsV2.
type listPage struct {
	Truncated bool   `xml:"IsTruncated"`
	Next      string `xml:"NextContinuationToken"`
	Contents  []struct {
		Key          string `xml:"Key"`
		Size         int64  `xml:"Size"`
		LastModified string `xml:"LastModified"`
	} `xml:"Contents"`
}

// maxListBody bounds a page of a listing: 1,000 keys of 1,024 bytes, and
// room for what else S3 puts there.
const maxListBody = 8 << 20

// listPage asks for the page of keys under prefix after startAfter, or at
// token.
func (cl *client) listPage(ctx context.Context, prefix, startAfter, token string) (*listPage, error) {
	q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
	if token != "" {
		q.Set("continuation-token", token)
	} else if startAfter != "" {
		q.Set("start-after", startAfter)
	}
	resp, err := cl.do(ctx, call{method: http.MethodGet, query: q})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxListBody+1))
	if err != nil {
		return nil, &bodyError{err}
	}
	if len(b) > maxListBody {
		return nil, errors.E(errors.IO, fmt.Errorf("the S3 store %s sent a page of a listing larger than %d bytes", cl.where(), maxListBody))
	}
	p := &listPage{}
	if err := xml.Unmarshal(b, p); err != nil {
		return nil, errors.E(errors.IO, fmt.Errorf("the S3 store %s sent a page of a listing that does not parse: %w", cl.where(), err))
	}
	return p, nil
}
