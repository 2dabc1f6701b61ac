package remote

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// protocolTable is the table of error codes in docs/PROTOCOL.md.
var protocolTable = []struct {
	status int
	code   string
	kind   errors.Kind
}{
	{400, CodeInvalid, errors.Invalid},
	{401, CodeUnauthenticated, errors.Permission},
	{401, CodeBadCredentials, errors.Permission},
	{401, CodeOTPRequired, errors.Permission},
	{401, CodeBadOTP, errors.Permission},
	{403, CodeDeviceRevoked, errors.Permission},
	{403, CodeAccountDisabled, errors.Permission},
	{403, CodeForbidden, errors.Permission},
	{404, CodeNotFound, errors.NotExist},
	{409, CodeExists, errors.Exist},
	{413, CodeTooLarge, errors.Invalid},
	{416, CodeBadRange, errors.Invalid},
	{422, CodeCorrupt, errors.Corrupt},
	{429, CodeRateLimited, errors.Unavailable},
	{503, CodeUnavailable, errors.Unavailable},
	{507, CodeQuotaExceeded, errors.Full},
	{507, CodeDiskFull, errors.Full},
	{500, CodeInternal, errors.IO},
}

// Every row of the table becomes its kind, keeps its code and the
// server's message, through an account route and an object route.
func TestErrorTable(t *testing.T) {
	f, c := newFake(t)
	for _, row := range protocolTable {
		msg := "the server says " + row.code
		f.setInject(func(*http.Request) *failure { return &failure{row.status, row.code, msg, "7"} })
		before := f.count("POST /v1/login")
		_, err := c.Login(t.Context(), &LoginRequest{User: "u", Auth: make([]byte, 32)})
		if errors.KindOf(err) != row.kind || Code(err) != row.code || !strings.Contains(err.Error(), msg) {
			t.Errorf("Login answered %d %s: error %q, kind %v, code %q; want kind %v", row.status, row.code, err, errors.KindOf(err), Code(err), row.kind)
		}
		if n := f.count("POST /v1/login") - before; n != 1 {
			t.Errorf("Login answered %s was sent %d times, want once", row.code, n)
		}
		wantAfter := time.Duration(0)
		if row.status == 429 || row.status == 503 {
			wantAfter = 7 * time.Second
		}
		if got := RetryAfter(err); got != wantAfter {
			t.Errorf("RetryAfter of %s = %v, want %v", row.code, got, wantAfter)
		}
		_, err = c.Store().Get(t.Context(), "obj", 0, -1)
		if errors.KindOf(err) != row.kind || Code(err) != row.code {
			t.Errorf("Get answered %d %s: error %q, kind %v, code %q; want kind %v", row.status, row.code, err, errors.KindOf(err), Code(err), row.kind)
		}
	}
}

// The codes a user must tell apart stay apart.
func TestCodesDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, row := range protocolTable {
		if seen[row.code] {
			t.Errorf("code %s twice", row.code)
		}
		seen[row.code] = true
		if _, ok := codeKinds[row.code]; !ok {
			t.Errorf("code %s has no kind", row.code)
		}
	}
	if len(codeKinds) != len(protocolTable) {
		t.Errorf("codeKinds has %d codes, the table %d", len(codeKinds), len(protocolTable))
	}
}

// An answer to HEAD has no body: its status alone says what went wrong.
func TestHeadErrors(t *testing.T) {
	f, c := newFake(t)
	s := c.Store()
	_, err := s.Stat(t.Context(), "missing")
	if errors.KindOf(err) != errors.NotExist || Code(err) != CodeNotFound {
		t.Errorf("Stat of a missing object: %v (code %q)", err, Code(err))
	}
	for _, tt := range []struct {
		status int
		kind   errors.Kind
		code   string
	}{
		{403, errors.Permission, ""},
		{401, errors.Permission, ""},
		{507, errors.Full, ""},
		{422, errors.Corrupt, CodeCorrupt},
		{500, errors.IO, CodeInternal},
	} {
		f.setInject(func(*http.Request) *failure { return &failure{status: tt.status, code: "x"} })
		_, err := s.Stat(t.Context(), "obj")
		if errors.KindOf(err) != tt.kind || Code(err) != tt.code {
			t.Errorf("Stat answered %d: %v, kind %v, code %q; want %v, %q", tt.status, err, errors.KindOf(err), Code(err), tt.kind, tt.code)
		}
	}
}

// An answer that is not the protocol's JSON, as from a proxy, is
// classified by its status, and a 502 is retried.
func TestForeignError(t *testing.T) {
	f, c := newFake(t)
	f.handle("/v1/account", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.WriteHeader(502)
		w.Write([]byte("<html>Bad Gateway</html>"))
	})
	_, err := c.Account(t.Context())
	if errors.KindOf(err) != errors.Unavailable || !strings.Contains(err.Error(), "502 Bad Gateway") {
		t.Errorf("Account through a failing proxy: %v", err)
	}
	if n := f.count("GET /v1/account"); n != c.retry.attempts {
		t.Errorf("a 502 was tried %d times, want %d", n, c.retry.attempts)
	}
}

// A redirect is not followed: the message says where to.
func TestRedirect(t *testing.T) {
	f, c := newFake(t)
	f.handle("/v1/account", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		http.Redirect(w, r, "https://elsewhere.example/v1/account", http.StatusMovedPermanently)
	})
	_, err := c.Account(t.Context())
	if errors.KindOf(err) != errors.Invalid || !strings.Contains(err.Error(), "redirects to https://elsewhere.example/") {
		t.Errorf("Account redirected: %v", err)
	}
}

// The server's message cannot drive the user's terminal.
func TestMessagePrintable(t *testing.T) {
	f, c := newFake(t)
	f.setInject(func(*http.Request) *failure {
		return &failure{403, CodeAccountDisabled, "disabled\x1b[2J\x1b]0;pwned\x07 by\r\nthe operator\u202e", ""}
	})
	_, err := c.Account(t.Context())
	if got := err.Error(); !strings.HasSuffix(got, "disabled[2J]0;pwned bythe operator") {
		t.Errorf("message = %q", got)
	}
}
