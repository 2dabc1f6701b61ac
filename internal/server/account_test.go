package server

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/totp"
)

func TestSignupLoginLogout(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	// The envelope is the object "account", and prelogin gives its salt.
	r := u.get("account")
	want(t, "get account", r, 200, "")
	if !bytes.Equal(r.body, u.envelope) {
		t.Fatal("the account object is not the envelope signed up with")
	}
	env, _ := keys.ParseAccount(u.envelope)
	p := ts.prelogin("alice")
	if !bytes.Equal(p.Salt, env.Salt[:]) || p.KDF.MemoryKiB != env.Params.MemoryKiB || p.KDF.Time != env.Params.Time {
		t.Fatalf("prelogin of a user: %+v", p)
	}
	a := u.info()
	if a.User != "alice" || a.AccountID != u.account || a.Used != int64(len(u.envelope)) || a.Quota != 0 || a.TOTP {
		t.Fatalf("account: %+v", a)
	}
	if _, err := time.Parse(time.RFC3339Nano, a.Created); err != nil {
		t.Fatalf("created: %v", err)
	}
	first := u.token
	// Logging in again as the same device replaces its token.
	r = u.login("")
	want(t, "login", r, 200, "")
	u.take(r)
	if u.token == first {
		t.Fatal("a login gave the same token")
	}
	want(t, "old token", ts.do("GET", "/v1/account", first, nil), 401, codeUnauthenticated)
	// A second device has its own token.
	pc2 := *u
	pc2.device = randHex(16)
	r = pc2.login("")
	want(t, "login of a second device", r, 200, "")
	pc2.take(r)
	want(t, "logout", ts.do("POST", "/v1/logout", u.token, nil), 204, "")
	want(t, "token after logout", u.get("account"), 401, codeUnauthenticated)
	want(t, "the other device after logout", pc2.get("account"), 200, "")
	want(t, "no token", ts.do("GET", "/v1/account", "", nil), 401, codeUnauthenticated)
	want(t, "malformed token", ts.do("GET", "/v1/account", "not-a-token", nil), 401, codeUnauthenticated)
	want(t, "bearer of 43 bad characters", ts.do("GET", "/v1/account", strings.Repeat("!", 43), nil), 401, codeUnauthenticated)
	noSecrets(t, ts.logs.String(), first, u.token, pc2.token,
		base64.StdEncoding.EncodeToString(u.auth[:]), base64.StdEncoding.EncodeToString(u.envelope))
	if !strings.Contains(ts.logs.String(), "msg=signup") || !strings.Contains(ts.logs.String(), "msg=login") {
		t.Fatalf("log lacks signup or login:\n%s", ts.logs)
	}
}

func TestPreloginUnknownUser(t *testing.T) {
	ts := start(t, Config{Signup: true})
	a, b := ts.prelogin("nobody"), ts.prelogin("nobody")
	c := ts.prelogin("somebody")
	if !bytes.Equal(a.Salt, b.Salt) || len(a.Salt) != 16 || bytes.Equal(a.Salt, c.Salt) {
		t.Fatalf("fake salts: %x %x %x", a.Salt, b.Salt, c.Salt)
	}
	d := keys.DefaultParams()
	if a.KDF != (kdfJSON{d.Time, d.MemoryKiB, d.Threads}) {
		t.Fatalf("fake parameters: %+v", a.KDF)
	}
	// The same after a restart: the server secret is kept.
	ts.stop()
	ts2 := start(t, Config{Data: ts.cfg.Data})
	if e := ts2.prelogin("nobody"); !bytes.Equal(e.Salt, a.Salt) {
		t.Fatal("the fake salt changed across a restart")
	}
	want(t, "prelogin of a bad name", ts2.do("GET", "/v1/prelogin?user=Bad", "", nil), 400, codeInvalid)
	want(t, "prelogin without a name", ts2.do("GET", "/v1/prelogin", "", nil), 400, codeInvalid)
}

func TestSignupRefusals(t *testing.T) {
	ts := start(t, Config{Signup: true})
	ts.signup("alice")
	u := ts.newUser("alice")
	want(t, "taken name", ts.do("POST", "/v1/signup", "", u.signupBody()), 409, codeExists)
	for _, name := range []string{"", "Alice", "-a", ".a", "a b", "a/b", "é", strings.Repeat("a", 65), "a\x00"} {
		b := u.signupBody()
		b["user"] = name
		want(t, "user "+strconv.Quote(name), ts.do("POST", "/v1/signup", "", b), 400, codeInvalid)
	}
	for _, name := range []string{"a", "0", "a.b_c-d", strings.Repeat("z", 64)} {
		v := ts.newUser(name)
		want(t, "user "+name, ts.do("POST", "/v1/signup", "", v.signupBody()), 200, "")
	}
	bad := map[string]func(map[string]any){
		"short auth":          func(b map[string]any) { b["auth"] = make([]byte, 31) },
		"auth not base64":     func(b map[string]any) { b["auth"] = "!!!" },
		"damaged envelope":    func(b map[string]any) { e := bytes.Clone(u.envelope); e[40] ^= 1; b["account"] = e },
		"no envelope":         func(b map[string]any) { delete(b, "account") },
		"device id":           func(b map[string]any) { b["device"] = map[string]string{"id": "ABCDEF", "name": "x"} },
		"device name":         func(b map[string]any) { b["device"] = map[string]string{"id": randHex(16), "name": "a\nb"} },
		"empty device name":   func(b map[string]any) { b["device"] = map[string]string{"id": randHex(16), "name": ""} },
		"recovery code size":  func(b map[string]any) { b["recovery"] = [][]byte{make([]byte, 5)} },
		"too many recoveries": func(b map[string]any) { b["recovery"] = make([][]byte, 65) },
	}
	for what, edit := range bad {
		v := ts.newUser("bob")
		b := v.signupBody()
		edit(b)
		want(t, what, ts.do("POST", "/v1/signup", "", b), 400, codeInvalid)
	}
	want(t, "not JSON", ts.do("POST", "/v1/signup", "", []byte("{")), 400, codeInvalid)
	want(t, "two objects", ts.do("POST", "/v1/signup", "", []byte(`{} {}`)), 400, codeInvalid)
	big := append([]byte(`{"user":"`), bytes.Repeat([]byte("a"), 70<<10)...)
	want(t, "64 KiB body", ts.do("POST", "/v1/signup", "", big), 413, codeTooLarge)
	want(t, "64 KiB body, chunked", ts.do("POST", "/v1/signup", "", bytes.NewReader(big)), 413, codeTooLarge)
	want(t, "GET of a POST route", ts.do("GET", "/v1/signup", "", nil), 405, codeInvalid)
	want(t, "unknown route", ts.do("GET", "/v2/signup", "", nil), 404, codeNotFound)

	closed := start(t, Config{})
	want(t, "closed sign-up", closed.do("POST", "/v1/signup", "", closed.newUser("carol").signupBody()), 403, codeForbidden)
}

func TestLoginRefusals(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	wrong := *u
	_, wrong.auth = envelope("not the passphrase")
	r1 := wrong.login("")
	want(t, "wrong passphrase", r1, 401, codeBadCredentials)
	nobody := ts.newUser("nobody")
	r2 := nobody.login("")
	want(t, "unknown user", r2, 401, codeBadCredentials)
	if !bytes.Equal(r1.body, r2.body) {
		t.Fatalf("the refusals tell a wrong passphrase from an unknown user: %s / %s", r1.body, r2.body)
	}
	b := u.loginBody("")
	b["auth"] = []byte("short")
	want(t, "short auth", ts.do("POST", "/v1/login", "", b), 400, codeInvalid)
	if !strings.Contains(ts.logs.String(), "reason=bad_credentials") {
		t.Fatalf("the log does not say why a login failed:\n%s", ts.logs)
	}
}

func TestLoginRateLimit(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	for i := 0; i < 2*int(userRate.burst); i++ {
		want(t, "successful logins do not count", u.login(""), 200, "")
	}
	wrong := *u
	_, wrong.auth = envelope("guess")
	var r reply
	for i := 0; i < 10; i++ {
		if r = wrong.login(""); r.code == codeRateLimited {
			break
		}
		want(t, "guess", r, 401, codeBadCredentials)
	}
	want(t, "after many guesses", r, 429, codeRateLimited)
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 {
		t.Fatalf("Retry-After: %q", r.header.Get("Retry-After"))
	}
	// The right passphrase waits too: the limit is on the user name.
	want(t, "the right passphrase while limited", u.login(""), 429, codeRateLimited)
	// Another user is not limited by alice's guesses.
	ts.signup("bob")
	bob := ts.newUser("bob")
	want(t, "another user's wrong login", bob.login(""), 401, codeBadCredentials)
	// The address limit: many user names from one address.
	var last reply
	for i := 0; i < 40; i++ {
		if last = ts.newUser("x" + strconv.Itoa(i)).login(""); last.code == codeRateLimited {
			break
		}
	}
	want(t, "guesses across user names from one address", last, 429, codeRateLimited)
}

func TestSignupRateLimit(t *testing.T) {
	ts := start(t, Config{Signup: true})
	var r reply
	for i := 0; i < 20; i++ {
		if r = ts.do("POST", "/v1/signup", "", ts.newUser("u"+strconv.Itoa(i)).signupBody()); r.code == codeRateLimited {
			break
		}
	}
	want(t, "many sign-ups from one address", r, 429, codeRateLimited)
}

func TestRevokedDevice(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	lost := *u
	lost.device = randHex(16)
	r := lost.login("")
	want(t, "login of the second device", r, 200, "")
	lost.take(r)
	var devs struct{ Devices []deviceJSON }
	json.Unmarshal(ts.do("GET", "/v1/devices", u.token, nil).body, &devs)
	if len(devs.Devices) != 2 || devs.Devices[0].Current == devs.Devices[1].Current {
		t.Fatalf("devices: %+v", devs)
	}
	want(t, "revoke", ts.do("POST", "/v1/devices/"+lost.device+"/revoke", u.token, nil), 204, "")
	want(t, "revoked device", lost.get("account"), 403, codeDeviceRevoked)
	want(t, "revoked device's list", ts.do("GET", "/v1/list", lost.token, nil), 403, codeDeviceRevoked)
	want(t, "login of a revoked device id", lost.login(""), 403, codeDeviceRevoked)
	want(t, "the other device", u.get("account"), 200, "")
	want(t, "revoke an unknown device", ts.do("POST", "/v1/devices/"+randHex(16)+"/revoke", u.token, nil), 404, codeNotFound)
	want(t, "revoke a bad id", ts.do("POST", "/v1/devices/..%2f/revoke", u.token, nil), 400, codeInvalid)
	// Another account cannot revoke alice's device.
	bob := ts.signup("bob")
	want(t, "revoke another's device", ts.do("POST", "/v1/devices/"+u.device+"/revoke", bob.token, nil), 404, codeNotFound)
	want(t, "alice after bob's try", u.get("account"), 200, "")
	json.Unmarshal(ts.do("GET", "/v1/devices", u.token, nil).body, &devs)
	for _, d := range devs.Devices {
		if (d.ID == lost.device) != (d.Revoked != nil) {
			t.Fatalf("revoked: %+v", d)
		}
	}
	if !strings.Contains(ts.logs.String(), "device revoked") {
		t.Fatal("the log does not record the revocation")
	}
}

func TestDisabledAccount(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	want(t, "put", u.put("volumes/v/x", []byte("x")), 204, "")
	admin, err := OpenAdmin(ts.cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.SetDisabled(t.Context(), "alice", true); err != nil {
		t.Fatal(err)
	}
	want(t, "request of a disabled account", u.get("volumes/v/x"), 403, codeAccountDisabled)
	want(t, "login to a disabled account", u.login(""), 403, codeAccountDisabled)
	wrong := *u
	_, wrong.auth = envelope("guess")
	want(t, "wrong login to a disabled account", wrong.login(""), 401, codeBadCredentials)
	if err := admin.SetDisabled(t.Context(), "alice", false); err != nil {
		t.Fatal(err)
	}
	want(t, "request once enabled", u.get("volumes/v/x"), 200, "")
}

func TestTOTP(t *testing.T) {
	clk := newClock()
	ts := start(t, Config{Signup: true, Now: clk.Now})
	u := ts.signup("alice")
	want(t, "confirm with nothing pending", ts.do("POST", "/v1/account/totp/confirm", u.token, totpConfirmReq{"123456", u.auth[:]}), 400, codeInvalid)
	r := ts.do("POST", "/v1/account/totp", u.token, nil)
	want(t, "totp", r, 200, "")
	var tr totpResp
	json.Unmarshal(r.body, &tr)
	secret, err := totp.Decode(tr.Secret)
	if err != nil || len(secret) != 20 || !strings.HasPrefix(tr.URI, "otpauth://totp/DVPC:alice?") {
		t.Fatalf("totp answer %+v: %v", tr, err)
	}
	if u.info().TOTP {
		t.Fatal("TOTP on before it was confirmed")
	}
	want(t, "confirm with a wrong code", ts.do("POST", "/v1/account/totp/confirm", u.token, totpConfirmReq{wrongCode(secret, clk.Now()), u.auth[:]}), 401, codeBadOTP)
	code := totp.Code(secret, clk.Now())
	// A stolen token alone cannot turn TOTP on: the passphrase's auth key
	// must come with the code.
	want(t, "confirm without auth", ts.do("POST", "/v1/account/totp/confirm", u.token, codeReq{code}), 400, codeInvalid)
	_, wrongAuth := envelope("not alice's passphrase")
	want(t, "confirm with another auth", ts.do("POST", "/v1/account/totp/confirm", u.token, totpConfirmReq{code, wrongAuth[:]}), 401, codeBadCredentials)
	if u.info().TOTP {
		t.Fatal("TOTP on without the passphrase")
	}
	clk.advance(time.Minute) // the failures above count against the rate limit
	code = totp.Code(secret, clk.Now())
	want(t, "confirm", ts.do("POST", "/v1/account/totp/confirm", u.token, totpConfirmReq{code, u.auth[:]}), 204, "")
	if !u.info().TOTP {
		t.Fatal("TOTP off after confirm")
	}
	want(t, "begin again while on", ts.do("POST", "/v1/account/totp", u.token, nil), 400, codeInvalid)
	want(t, "login without a code", u.login(""), 401, codeOTPRequired)
	want(t, "login with a wrong code", u.login(wrongCode(secret, clk.Now())), 401, codeBadOTP)
	want(t, "login with the code used to confirm", u.login(code), 401, codeBadOTP)
	clk.advance(30 * time.Second)
	next := totp.Code(secret, clk.Now())
	wrong := *u
	_, wrong.auth = envelope("guess")
	want(t, "wrong passphrase, right code", wrong.login(next), 401, codeBadCredentials)
	r = u.login(next)
	want(t, "login with a fresh code", r, 200, "")
	u.take(r)
	want(t, "the same code again", u.login(next), 401, codeBadOTP)
	want(t, "disable with a used code", ts.do("POST", "/v1/account/totp/disable", u.token, codeReq{next}), 401, codeBadOTP)
	want(t, "disable with an empty code", ts.do("POST", "/v1/account/totp/disable", u.token, codeReq{""}), 400, codeInvalid)
	clk.advance(30 * time.Second)
	want(t, "disable", ts.do("POST", "/v1/account/totp/disable", u.token, codeReq{totp.Code(secret, clk.Now())}), 204, "")
	if u.info().TOTP {
		t.Fatal("TOTP on after disable")
	}
	want(t, "login after disable", u.login(""), 200, "")
	noSecrets(t, ts.logs.String(), code, next, tr.Secret)
}

// wrongCode returns a code that is not valid for secret at now.
func wrongCode(secret []byte, now time.Time) string {
	for i := 0; ; i++ {
		c := strconv.Itoa(100000 + i)
		if _, ok := totp.Verify(secret, c, now, 0); !ok {
			return c
		}
	}
}

func TestPassphraseChange(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	env2, auth2 := envelope("the new passphrase")
	body := map[string]any{"old_auth": auth2[:], "auth": auth2[:], "account": env2}
	want(t, "change with a wrong old_auth", ts.do("POST", "/v1/account/passphrase", u.token, body), 401, codeBadCredentials)
	if r := u.get("account"); !bytes.Equal(r.body, u.envelope) {
		t.Fatal("a refused change touched the envelope")
	}
	body["old_auth"] = u.auth[:]
	body["account"] = []byte("not an envelope")
	want(t, "change with a bad envelope", ts.do("POST", "/v1/account/passphrase", u.token, body), 400, codeInvalid)
	body["account"] = env2
	want(t, "change", ts.do("POST", "/v1/account/passphrase", u.token, body), 204, "")
	want(t, "old passphrase", u.login(""), 401, codeBadCredentials)
	if r := u.get("account"); !bytes.Equal(r.body, env2) {
		t.Fatal("the account object is not the new envelope")
	}
	e2, _ := keys.ParseAccount(env2)
	if p := ts.prelogin("alice"); !bytes.Equal(p.Salt, e2.Salt[:]) {
		t.Fatal("prelogin gives the old salt")
	}
	u.auth, u.envelope = auth2, env2
	want(t, "new passphrase", u.login(""), 200, "")
	// A crash after the envelope was written but before the database: the
	// next start puts the database's envelope back.
	st, _ := ts.store(u.account)
	env3, _ := envelope("a change that crashed")
	if err := st.Put(t.Context(), envelopeName, env3); err != nil {
		t.Fatal(err)
	}
	ts.stop()
	ts2 := start(t, Config{Data: ts.cfg.Data})
	u.ts = ts2
	r := u.login("")
	want(t, "login after the crash", r, 200, "")
	u.take(r)
	if r := u.get("account"); !bytes.Equal(r.body, env2) {
		t.Fatal("the envelope was not repaired from the database at start")
	}
	if !strings.Contains(ts2.logs.String(), "restored the account envelope") {
		t.Fatal("the repair is not logged")
	}
}

func TestRecoveryCode(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.newUser("alice")
	acc, master, auth := keys.NewAccount([]byte(u.pass), nil, keys.TestParams())
	codes, hashes := acc.NewRecoveryCodes(master)
	u.envelope, u.auth = acc.Marshal(), auth
	body := u.signupBody()
	body["recovery"] = toBytes(hashes)
	r := ts.do("POST", "/v1/signup", "", body)
	want(t, "signup with recovery codes", r, 200, "")
	u.take(r)
	if n := u.info().RecoveryCodes; n != len(codes) {
		t.Fatalf("%d recovery codes, want %d", n, len(codes))
	}
	// The user lost the passphrase: the code gets the envelope, which it
	// opens, and a new envelope replaces it.
	codeAuth, _ := keys.RecoveryAuth(codes[0])
	ask := map[string]any{"user": "alice", "code_auth": codeAuth[:]}
	r = ts.do("POST", "/v1/recover/account", "", ask)
	want(t, "recover/account", r, 200, "")
	var got struct{ Account []byte }
	json.Unmarshal(r.body, &got)
	if !bytes.Equal(got.Account, u.envelope) {
		t.Fatal("recover/account did not give the envelope")
	}
	bad := sha256.Sum256([]byte("not a code"))
	want(t, "recover/account with a wrong code", ts.do("POST", "/v1/recover/account", "", map[string]any{"user": "alice", "code_auth": bad[:]}), 401, codeBadCredentials)
	env, _ := keys.ParseAccount(got.Account)
	m, id, _, err := env.UnlockRecovery(codes[0])
	if err != nil {
		t.Fatal(err)
	}
	env.RemoveRecovery(id)
	newAuth := env.Rewrap([]byte("new after recovery"), nil, m)
	env2 := env.Marshal()
	rec := map[string]any{"user": "alice", "code_auth": codeAuth[:], "auth": newAuth[:], "account": env2, "device": device(randHex(16))}
	r = ts.do("POST", "/v1/recover", "", rec)
	want(t, "recover", r, 200, "")
	v := *u
	v.take(r)
	if r := v.get("account"); !bytes.Equal(r.body, env2) {
		t.Fatal("the envelope was not replaced by recovery")
	}
	want(t, "old passphrase after recovery", u.login(""), 401, codeBadCredentials)
	want(t, "the same code again", ts.do("POST", "/v1/recover", "", rec), 401, codeBadCredentials)
	want(t, "recover/account with a used code", ts.do("POST", "/v1/recover/account", "", ask), 401, codeBadCredentials)
	if n := v.info().RecoveryCodes; n != len(codes)-1 {
		t.Fatalf("%d recovery codes after one was used", n)
	}
	v.auth = newAuth
	r = v.login("")
	want(t, "new passphrase", r, 200, "")
	v.take(r)
	other, _ := keys.RecoveryAuth(codes[1])
	rec["user"], rec["code_auth"] = "nobody", other[:]
	want(t, "a code of another user", ts.do("POST", "/v1/recover", "", rec), 401, codeBadCredentials)
	if r := v.get("account"); !bytes.Equal(r.body, env2) {
		t.Fatal("a refused recovery changed the envelope")
	}
	// A passphrase change may drop every code.
	change := map[string]any{"old_auth": newAuth[:], "auth": newAuth[:], "account": env2, "recovery": [][]byte{}}
	want(t, "drop the codes", ts.do("POST", "/v1/account/passphrase", v.token, change), 204, "")
	if n := v.info().RecoveryCodes; n != 0 {
		t.Fatalf("%d recovery codes after dropping them", n)
	}
}

func toBytes(keys []keys.Key) [][]byte {
	out := make([][]byte, len(keys))
	for i := range keys {
		out[i] = keys[i][:]
	}
	return out
}

// A fault of the server's own is 500 internal, with a message that says
// nothing of it, and the log says what.
func TestInternalError(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	raw, err := sql.Open("sqlite", filepath.Join(ts.cfg.Data, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`UPDATE accounts SET salt = x'00' WHERE user = 'alice'`); err != nil {
		t.Fatal(err)
	}
	r := ts.do("GET", "/v1/prelogin?user=alice", "", nil)
	want(t, "prelogin of a damaged account", r, 500, codeInternal)
	if strings.Contains(string(r.body), "salt") || strings.Contains(string(r.body), ts.cfg.Data) {
		t.Fatalf("the 500 tells too much: %s", r.body)
	}
	want(t, "a request of the damaged account", u.get("account"), 500, codeInternal)
	if !strings.Contains(ts.logs.String(), "wrong length") {
		t.Fatalf("the log does not say what failed:\n%s", ts.logs)
	}
}
