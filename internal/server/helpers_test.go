package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/keys"
)

// testServer is a real Server listening on 127.0.0.1 with its own data
// folder, and a client for it.
type testServer struct {
	*Server
	t      *testing.T
	url    string // the server's URL()
	cfg    Config
	client *http.Client
	logs   *syncBuffer
	stop   func()
}

// syncBuffer collects the server's log for tests to search.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start serves cfg (sign-up open, a new data folder and 127.0.0.1:0
// unless set) until the test ends or ts.stop is called.
func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	logs := &syncBuffer{}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	var once sync.Once
	ts := &testServer{Server: s, t: t, url: s.URL(), cfg: cfg, logs: logs}
	ts.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			ts.client.CloseIdleConnections()
		})
	}
	t.Cleanup(ts.stop)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	if fp := s.Fingerprint(); fp != "" {
		tr.TLSClientConfig = pinned(fp)
		tr.ForceAttemptHTTP2 = true
	}
	ts.client = &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	return ts
}

// pinned trusts only the certificate with the given fingerprint.
func pinned(fp string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != fp {
				return fmt.Errorf("certificate fingerprint %x, want %s", sum, fp)
			}
			return nil
		},
	}
}

// clock is a fake clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// reply is what the server answered.
type reply struct {
	status int
	code   string // the error code, for an error
	body   []byte
	header http.Header
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request. body is nil, []byte (sent as is), an io.Reader
// (sent without a length: chunked), or anything else (sent as JSON).
// hdr holds header names and values.
func (ts *testServer) do(method, path, token string, body any, hdr ...string) reply {
	ts.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if _, ok := body.(io.Reader); ok {
		req.ContentLength = -1
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return ts.send(req)
}

func (ts *testServer) send(req *http.Request) reply {
	ts.t.Helper()
	// Errorf, not Fatalf: requests are sent from goroutines too.
	resp, err := ts.client.Do(req)
	if err != nil {
		ts.t.Errorf("%s %s: %v", req.Method, req.URL, err)
		return reply{status: -1}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Errorf("%s %s: reading the answer: %v", req.Method, req.URL, err)
		return reply{status: -1}
	}
	r := reply{status: resp.StatusCode, body: b, header: resp.Header}
	if resp.StatusCode >= 400 && req.Method != http.MethodHead {
		var e struct{ Error, Message string }
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" || e.Message == "" {
			ts.t.Errorf("%s %s: error answer without the protocol's body: %d %q", req.Method, req.URL, resp.StatusCode, b)
		}
		r.code = e.Error
		if want := statusOf[e.Error]; want != resp.StatusCode && resp.StatusCode != http.StatusMethodNotAllowed {
			ts.t.Errorf("%s %s: code %s with status %d, the table says %d", req.Method, req.URL, e.Error, resp.StatusCode, want)
		}
	}
	return r
}

// want fails the test unless r has the status and, for an error, the code.
func want(t *testing.T, what string, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Fatalf("%s: %s, want %d %s", what, r, status, code)
	}
}

// user is a client of one account, stretching passphrases with cheap
// parameters.
type user struct {
	ts       *testServer
	name     string
	pass     string
	auth     keys.Key
	envelope []byte
	device   string
	token    string
	account  string
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// envelope makes an account envelope for pass and its auth key.
func envelope(pass string) ([]byte, keys.Key) {
	a, _, auth := keys.NewAccount([]byte(pass), nil, keys.TestParams())
	return a.Marshal(), auth
}

func (ts *testServer) newUser(name string) *user {
	u := &user{ts: ts, name: name, pass: "pass of " + name, device: randHex(16)}
	u.envelope, u.auth = envelope(u.pass)
	return u
}

func device(id string) map[string]string { return map[string]string{"id": id, "name": "pc " + id[:4]} }

func (u *user) signupBody() map[string]any {
	return map[string]any{"user": u.name, "auth": u.auth[:], "account": u.envelope, "device": device(u.device)}
}

// signup signs the user up, or fails the test.
func (ts *testServer) signup(name string) *user {
	ts.t.Helper()
	u := ts.newUser(name)
	r := ts.do("POST", "/v1/signup", "", u.signupBody())
	want(ts.t, "signup "+name, r, 200, "")
	u.take(r)
	return u
}

// take keeps the token of a sign-up, login or recovery answer.
func (u *user) take(r reply) {
	u.ts.t.Helper()
	var lr loginResp
	if err := json.Unmarshal(r.body, &lr); err != nil || len(lr.Token) != 43 || !isHexID(lr.AccountID) {
		u.ts.t.Fatalf("login answer %s: %v", r, err)
	}
	u.token, u.account, u.device = lr.Token, lr.AccountID, lr.DeviceID
}

func (u *user) loginBody(otp string) map[string]any {
	return map[string]any{"user": u.name, "auth": u.auth[:], "otp": otp, "device": device(u.device)}
}

func (u *user) login(otp string) reply {
	return u.ts.do("POST", "/v1/login", "", u.loginBody(otp))
}

// prelogin returns the salt and parameters the server gives for name.
func (ts *testServer) prelogin(name string) preloginResp {
	ts.t.Helper()
	r := ts.do("GET", "/v1/prelogin?user="+name, "", nil)
	want(ts.t, "prelogin", r, 200, "")
	var p preloginResp
	if err := json.Unmarshal(r.body, &p); err != nil {
		ts.t.Fatal(err)
	}
	return p
}

func (u *user) put(name string, data []byte) reply {
	return u.ts.do("PUT", "/v1/o/"+name, u.token, data)
}

func (u *user) get(name string, hdr ...string) reply {
	return u.ts.do("GET", "/v1/o/"+name, u.token, nil, hdr...)
}

func (u *user) del(name string) reply { return u.ts.do("DELETE", "/v1/o/"+name, u.token, nil) }

// info returns GET /v1/account.
func (u *user) info() accountResp {
	u.ts.t.Helper()
	r := u.ts.do("GET", "/v1/account", u.token, nil)
	want(u.ts.t, "account", r, 200, "")
	var a accountResp
	if err := json.Unmarshal(r.body, &a); err != nil {
		u.ts.t.Fatal(err)
	}
	return a
}

// list returns one page of names.
func (u *user) list(query string) listResp {
	u.ts.t.Helper()
	r := u.ts.do("GET", "/v1/list?"+query, u.token, nil)
	want(u.ts.t, "list "+query, r, 200, "")
	var l listResp
	if err := json.Unmarshal(r.body, &l); err != nil {
		u.ts.t.Fatal(err)
	}
	return l
}

func names(l listResp) string {
	var s []string
	for _, o := range l.Objects {
		s = append(s, o.Name)
	}
	return strings.Join(s, " ")
}

// hashed returns a name that promises the SHA-256 of data.
func hashed(prefix string, data []byte) string {
	sum := sha256.Sum256(data)
	return prefix + hex.EncodeToString(sum[:])
}

// noSecrets fails the test if the log holds any of the secrets.
func noSecrets(t *testing.T, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Fatalf("the server log holds a secret (%.8s...)", s)
		}
	}
}
