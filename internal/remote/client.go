package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// Options configure a Client. The zero value is a client of a server whose
// certificate the system trusts, not yet logged in.
type Options struct {
	// Token authenticates the routes that need one: what Signup, Login or
	// Recover returned. Empty before a login.
	Token string
	// Fingerprint pins the server's TLS certificate: the SHA-256 of its
	// leaf certificate (DER), in hex; colons and case are ignored. When it
	// is set, the certificate is checked against it alone, so a
	// self-signed one works; when it is empty, the system's roots verify
	// the certificate as usual. Probe reports the fingerprint to pin.
	Fingerprint string
	// AllowPlainHTTP permits an http:// URL to a host other than the
	// loopback. The token and everything else then cross the network
	// unencrypted.
	AllowPlainHTTP bool
	// HTTPClient, if set, sends every request instead of the Client's own
	// (for tests). It is used as it is: Fingerprint does not apply to it.
	HTTPClient *http.Client
	// UserAgent names the program in every request; "dvpc" if empty.
	UserAgent string
	// TempDir holds the temporary files of objects written with Create;
	// os.TempDir() if empty.
	TempDir string
	// FailFast is for a server that is one mirror of a set: a connection
	// that cannot be made (refused, no route, no such host, no answer
	// within DialTimeout) fails at once instead of being tried again, so
	// that the set turns to its other mirrors and its outbox without
	// making the user wait.
	FailFast bool
}

// DialTimeout bounds how long a FailFast client waits for a connection.
const DialTimeout = 5 * time.Second

// Client talks to one dvpc server. It is safe for concurrent use.
type Client struct {
	base    string // scheme://host[:port][/prefix], without a final slash
	server  string // host[:port], to name the server in messages
	hc      *http.Client
	ua      string
	tempDir string
	retry   retryPolicy
	// failFast: connections that cannot be made are not tried again.
	failFast bool
	// listLimit, if positive, is the page size List asks for (tests).
	listLimit int

	mu    sync.Mutex
	token string
}

// New returns a client of the server at rawURL, such as
// "https://dvpc.example.org:8443". It refuses an http:// URL to a host
// other than the loopback unless o.AllowPlainHTTP is set. It does not
// connect: the first request does.
func New(rawURL string, o Options) (*Client, error) {
	const op errors.Op = "remote.New"
	u, err := parseURL(rawURL, o.AllowPlainHTTP)
	if err != nil {
		return nil, errors.E(op, err)
	}
	pin, err := parseFingerprint(o.Fingerprint)
	if err != nil {
		return nil, errors.E(op, err)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{
			Transport:     newTransport(tlsConfig(pin, u.Host), o.FailFast),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "dvpc"
	}
	return &Client{
		base:     u.String(),
		server:   u.Host,
		hc:       hc,
		ua:       ua,
		tempDir:  o.TempDir,
		retry:    defaultRetry,
		token:    o.Token,
		failFast: o.FailFast,
	}, nil
}

// parseURL checks a server URL: http or https, a host, nothing after the
// path. The path, if any, is a prefix of every route.
func parseURL(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.E(errors.Invalid, errors.Str(fmt.Sprintf("bad server URL %q: %v", raw, err)))
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.E(errors.Invalid, errors.Str(fmt.Sprintf("bad server URL %q: it must start with https://", raw)))
	case u.Host == "" || u.Hostname() == "":
		return nil, errors.E(errors.Invalid, errors.Str(fmt.Sprintf("bad server URL %q: no host", raw)))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, errors.E(errors.Invalid, errors.Str(fmt.Sprintf("bad server URL %q: only scheme, host, port and path are allowed", raw)))
	case u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()):
		return nil, errors.E(errors.Invalid, errors.Str(fmt.Sprintf(
			"refusing plain http:// to %s: the login token and all data would cross the network unencrypted; use https://, or allow plain HTTP explicitly", u.Host)))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// isLoopback reports whether host names this machine for certain.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Close releases the client's idle connections. The client still works
// after it, opening new ones.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Token returns the token the client sends: the one it was made with, or
// the last one a Signup, Login or Recover returned; empty after Logout.
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *Client) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

// request is one HTTP request of the protocol.
type request struct {
	method string
	path   string     // below the base URL, such as "/v1/o/data/ab"
	query  url.Values // or nil
	header http.Header
	body   io.ReaderAt // read afresh from the start by every attempt, or nil
	size   int64       // of body
	auth   bool        // send the token
}

// newRequest builds the HTTP request for r.
func (c *Client) newRequest(ctx context.Context, r *request) (*http.Request, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", c.ua)
	if r.auth {
		if t := c.Token(); t != "" {
			req.Header.Set("Authorization", "Bearer "+t)
		}
	}
	if r.body != nil {
		req.ContentLength = r.size
		req.GetBody = func() (io.ReadCloser, error) {
			if r.size == 0 {
				return http.NoBody, nil
			}
			if f := fileBody(r.body, r.size); f != nil {
				return f, nil
			}
			return io.NopCloser(io.NewSectionReader(r.body, 0, r.size)), nil
		}
		req.Body, _ = req.GetBody()
	}
	return req, nil
}

// fileBody returns a handle of its own on the file that holds body, at
// the body's start, when body is a file or a section of one that ends
// where the file does (a spooled pack): the HTTP transport then sends it
// with sendfile(2), and the bytes do not pass through this process. (The
// transport refuses a body longer than its Content-Length, and a limit
// around the file would hide it from sendfile.) It returns nil when body
// is not such a file, or the file cannot be opened again.
func fileBody(body io.ReaderAt, size int64) *os.File {
	var off int64
	for {
		s, ok := body.(*io.SectionReader)
		if !ok {
			break
		}
		var o int64
		body, o, _ = s.Outer()
		off += o
	}
	f, ok := body.(*os.File)
	if !ok {
		return nil
	}
	g, err := os.Open(f.Name())
	if err != nil {
		return nil
	}
	if fi, err := g.Stat(); err != nil || fi.Size() != off+size {
		g.Close()
		return nil
	}
	if _, err := g.Seek(off, io.SeekStart); err != nil {
		g.Close()
		return nil
	}
	return g
}

// send makes one attempt at r. It returns the response if its status is
// 2xx, and otherwise an error built from the status and the error body,
// with the response closed.
func (c *Client) send(ctx context.Context, op errors.Op, name string, r *request) (*http.Response, error) {
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, name, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.netErr(ctx, op, name, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	se := parseError(resp.StatusCode, resp.Header, body)
	return nil, errors.E(op, se.kind(), name, se)
}

// Limits on what the client reads from the server.
const (
	maxErrorBody = 64 << 10 // an error body
	maxJSON      = 1 << 20  // an account route's answer (the protocol says 64 KiB)
	maxListJSON  = 64 << 20 // a page of List or an answer of Watch
)

// call sends a JSON request (in, unless nil) to an account route and
// decodes the answer into out, unless nil. An idempotent call is retried
// on transient failures.
func (c *Client) call(ctx context.Context, op errors.Op, r *request, idempotent bool, in, out any) error {
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return errors.E(op, errors.Invalid, err)
		}
		r.body, r.size = bytes.NewReader(b), int64(len(b))
		r.header = http.Header{"Content-Type": {"application/json"}}
	}
	return c.try(ctx, op, "", idempotent, func() error {
		resp, err := c.send(ctx, op, "", r)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if out == nil {
			return nil
		}
		limit := int64(maxJSON)
		if r.path == "/v1/watch" {
			limit = maxListJSON
		}
		if err := decodeJSON(resp.Body, limit, out); err != nil {
			return c.bodyErr(ctx, op, "", err)
		}
		return nil
	})
}

// decodeJSON decodes one JSON value of at most limit bytes from r into v.
func decodeJSON(r io.Reader, limit int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > limit {
		return badAnswer("the answer is over %d bytes", limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badAnswer("the answer is not the JSON expected: %v", err)
	}
	return nil
}
