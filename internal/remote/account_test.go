package remote

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// keys returns the sorted keys of a JSON object.
func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return k
}

// Each account route is sent to its path with its method, its JSON fields
// and the token, and its answer decoded.
func TestAccountRoutes(t *testing.T) {
	f, c := newFake(t)
	c.setToken("")
	ctx := t.Context()
	session := map[string]any{"account_id": strings.Repeat("a", 32), "device_id": strings.Repeat("d", 32), "token": "new-token"}
	var auths []string
	record := func(w http.ResponseWriter, r *http.Request, v any) {
		f.mu.Lock()
		auths = append(auths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		f.mu.Unlock()
		if v == nil {
			w.WriteHeader(204)
			return
		}
		reply(w, v)
	}
	answers := map[string]any{
		"/v1/prelogin":                     map[string]any{"kdf": map[string]any{"time": 3, "memory_kib": 65536, "threads": 4}, "salt": base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))},
		"/v1/signup":                       session,
		"/v1/login":                        session,
		"/v1/recover":                      session,
		"/v1/recover/account":              map[string]any{"account": base64.StdEncoding.EncodeToString([]byte("envelope"))},
		"/v1/logout":                       nil,
		"/v1/account/passphrase":           nil,
		"/v1/account/totp":                 map[string]any{"secret": "JBSWY3DPEHPK3PXP", "uri": "otpauth://totp/DVPC:u?secret=JBSWY3DPEHPK3PXP&issuer=DVPC"},
		"/v1/account/totp/confirm":         nil,
		"/v1/account/totp/disable":         nil,
		"/v1/devices/" + devID + "/revoke": nil,
		"/v1/account": map[string]any{"user": "u", "account_id": strings.Repeat("a", 32), "created": "2025-01-02T03:04:05.123456789Z",
			"quota": 1000, "used": 10, "totp": true, "recovery_codes": 8},
		"/v1/devices": map[string]any{"devices": []any{
			map[string]any{"id": devID, "name": "laptop", "created": "2025-01-02T03:04:05Z", "last_seen": "2025-01-03T03:04:05Z", "revoked": nil, "current": true},
			map[string]any{"id": strings.Repeat("e", 32), "name": "old", "created": "2025-01-02T03:04:05Z", "last_seen": "2025-01-02T03:04:05Z", "revoked": "2025-01-04T00:00:00Z", "current": false},
		}},
	}
	for path, v := range answers {
		f.handle(path, func(w http.ResponseWriter, r *http.Request, _ map[string]any) { record(w, r, v) })
	}
	dev := DeviceRef{ID: devID, Name: "laptop"}

	pre, err := c.Prelogin(ctx, "u")
	if err != nil || pre.KDF != (KDF{3, 65536, 4}) || string(pre.Salt) != "0123456789abcdef" {
		t.Fatalf("Prelogin = %+v, %v", pre, err)
	}
	if q := f.query("/v1/prelogin"); q != "user=u" {
		t.Errorf("Prelogin query %q", q)
	}
	s, err := c.Signup(ctx, &SignupRequest{User: "u", Auth: make([]byte, 32), Account: []byte("envelope"), Device: dev})
	if err != nil || s.Token != "new-token" || c.Token() != "new-token" || s.DeviceID != strings.Repeat("d", 32) {
		t.Fatalf("Signup = %+v, %v; token %q", s, err, c.Token())
	}
	checkBody(t, f, "/v1/signup", "account", "auth", "device", "user")
	if d := f.body("/v1/signup")["device"].(map[string]any); d["id"] != devID || d["name"] != "laptop" {
		t.Errorf("Signup sent device %v", d)
	}
	if a := f.body("/v1/signup")["auth"]; a != base64.StdEncoding.EncodeToString(make([]byte, 32)) {
		t.Errorf("Signup sent auth %v, want standard base64", a)
	}
	if _, err := c.Login(ctx, &LoginRequest{User: "u", Auth: make([]byte, 32), OTP: "123456", Device: dev}); err != nil {
		t.Fatal(err)
	}
	checkBody(t, f, "/v1/login", "auth", "device", "otp", "user")
	env, err := c.RecoveryAccount(ctx, "u", []byte("code"))
	if err != nil || string(env) != "envelope" {
		t.Fatalf("RecoveryAccount = %q, %v", env, err)
	}
	checkBody(t, f, "/v1/recover/account", "code_auth", "user")
	if _, err := c.Recover(ctx, &RecoverRequest{User: "u", CodeAuth: []byte("c"), Auth: []byte("a"), Account: []byte("e"), Device: dev}); err != nil {
		t.Fatal(err)
	}
	checkBody(t, f, "/v1/recover", "account", "auth", "code_auth", "device", "user")

	acct, err := c.Account(ctx)
	want := Account{User: "u", AccountID: strings.Repeat("a", 32), Created: time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC), Quota: 1000, Used: 10, TOTP: true, RecoveryCodes: 8}
	if err != nil || *acct != want {
		t.Fatalf("Account = %+v, %v", acct, err)
	}
	if err := c.ChangePassphrase(ctx, &PassphraseRequest{OldAuth: []byte("o"), Auth: []byte("a"), Account: []byte("e")}); err != nil {
		t.Fatal(err)
	}
	checkBody(t, f, "/v1/account/passphrase", "account", "auth", "old_auth")
	if err := c.ChangePassphrase(ctx, &PassphraseRequest{Recovery: [][]byte{}}); err != nil {
		t.Fatal(err)
	}
	checkBody(t, f, "/v1/account/passphrase", "account", "auth", "old_auth", "recovery")
	sec, err := c.TOTPBegin(ctx)
	if err != nil || sec.Secret != "JBSWY3DPEHPK3PXP" || !strings.HasPrefix(sec.URI, "otpauth://") {
		t.Fatalf("TOTPBegin = %+v, %v", sec, err)
	}
	if err := c.TOTPConfirm(ctx, "123456", make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	checkBody(t, f, "/v1/account/totp/confirm", "auth", "code")
	if err := c.TOTPDisable(ctx, "654321"); err != nil || f.body("/v1/account/totp/disable")["code"] != "654321" {
		t.Fatalf("TOTPDisable: %v, body %v", err, f.body("/v1/account/totp/disable"))
	}
	devs, err := c.Devices(ctx)
	if err != nil || len(devs) != 2 || devs[0].Revoked != nil || !devs[0].Current || devs[1].Revoked == nil || devs[1].LastSeen.IsZero() {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}
	if err := c.Revoke(ctx, devID); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, "../../v1/logout"); errors.KindOf(err) != errors.Invalid {
		t.Errorf("Revoke of a bad id: %v", err)
	}
	if err := c.Logout(ctx); err != nil || c.Token() != "" {
		t.Fatalf("Logout: %v, token %q", err, c.Token())
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	wantAuth := []string{
		"GET /v1/prelogin ",
		"POST /v1/signup ",
		"POST /v1/login ",
		"POST /v1/recover/account ",
		"POST /v1/recover ",
		"GET /v1/account Bearer new-token",
		"POST /v1/account/passphrase Bearer new-token",
		"POST /v1/account/passphrase Bearer new-token",
		"POST /v1/account/totp Bearer new-token",
		"POST /v1/account/totp/confirm Bearer new-token",
		"POST /v1/account/totp/disable Bearer new-token",
		"GET /v1/devices Bearer new-token",
		"POST /v1/devices/" + devID + "/revoke Bearer new-token",
		"POST /v1/logout Bearer new-token",
	}
	if !slices.Equal(auths, wantAuth) {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(auths, "\n"), strings.Join(wantAuth, "\n"))
	}
}

const devID = "0123456789abcdef0123456789abcdef"

func checkBody(t *testing.T, f *fake, path string, want ...string) {
	t.Helper()
	if got := keys(f.body(path)); !slices.Equal(got, want) {
		t.Errorf("%s sent fields %q, want %q", path, got, want)
	}
}

// A session without a token is refused: the client would be logged out.
func TestSessionNoToken(t *testing.T) {
	f, c := newFake(t)
	f.handle("/v1/login", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		reply(w, map[string]any{"account_id": "a", "device_id": "d", "token": "bad\ntoken"})
	})
	if _, err := c.Login(t.Context(), &LoginRequest{}); errors.KindOf(err) != errors.IO || c.Token() != f.token {
		t.Fatalf("Login answered a bad token: %v; token now %q", err, c.Token())
	}
}

// Watch sends its prefix, cursor and timeout, decodes the answer, and is
// woken by a put.
func TestWatch(t *testing.T) {
	f, c := newFake(t)
	s := c.Store()
	ch, err := c.Watch(t.Context(), "vol/", "", 0)
	if err != nil || ch.Cursor != "0" || len(ch.Names) != 0 {
		t.Fatalf("Watch with no cursor = %+v, %v", ch, err)
	}
	if q := f.query("/v1/watch"); q != "cursor=&prefix=vol%2F" {
		t.Errorf("Watch query %q", q)
	}
	s.Put(t.Context(), "other", nil)
	s.Put(t.Context(), "vol/a", nil)
	ch, err = c.Watch(t.Context(), "vol/", "0", 1500*time.Millisecond)
	if err != nil || ch.Cursor != "2" || !slices.Equal(ch.Names, []string{"vol/a"}) || ch.Reset {
		t.Fatalf("Watch = %+v, %v", ch, err)
	}
	if q := f.query("/v1/watch"); q != "cursor=0&prefix=vol%2F&timeout=2" {
		t.Errorf("Watch query %q", q)
	}
	done := make(chan *Changes)
	go func() {
		ch, err := c.Watch(t.Context(), "vol/", "2", time.Minute)
		if err != nil {
			t.Error(err)
		}
		done <- ch
	}()
	for f.count("GET /v1/watch") < 3 {
		time.Sleep(time.Millisecond) // polls a counter; the watch may be waiting already
	}
	s.Put(t.Context(), "vol/b", nil)
	if ch := <-done; ch == nil || !slices.Equal(ch.Names, []string{"vol/b"}) {
		t.Fatalf("woken Watch = %+v", ch)
	}
	if q := f.query("/v1/watch"); !strings.HasSuffix(q, "timeout=60") {
		t.Errorf("a watch of a minute asked %q, want the protocol's most, 60 s", q)
	}
}

// A watch answer naming what is not under the prefix is refused.
func TestWatchBadAnswer(t *testing.T) {
	f, c := newFake(t)
	f.handle("/v1/watch", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.Write([]byte(`{"cursor": "1", "names": ["elsewhere"], "reset": false}`))
	})
	if _, err := c.Watch(t.Context(), "vol/", "0", 0); errors.KindOf(err) != errors.IO {
		t.Fatalf("Watch answered a name outside its prefix: %v", err)
	}
}
