package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/keys"
)

// checker is a request body: parsed by parseJSON, then checked.
type checker interface{ check() error }

// bodies returns a fresh value of every JSON body the server parses.
func bodies() []checker {
	return []checker{&signupReq{}, &loginReq{}, &recoverReq{}, &recoverEnvelopeReq{}, &passphraseReq{}, &codeReq{}, &totpConfirmReq{}}
}

// FuzzBodies feeds every JSON body parser the same bytes. A body that
// passes its check has only fields the server can use as they are.
func FuzzBodies(f *testing.F) {
	a, _, auth := keys.NewAccount([]byte("p"), nil, keys.TestParams())
	env := a.Marshal()
	dev := device(strings.Repeat("ab", 16))
	for _, v := range []any{
		map[string]any{"user": "alice", "auth": auth[:], "account": env, "device": dev, "recovery": [][]byte{auth[:]}},
		map[string]any{"user": "alice", "auth": auth[:], "otp": "123456", "device": dev},
		map[string]any{"user": "a", "code_auth": auth[:], "auth": auth[:], "account": env, "device": dev},
		map[string]any{"old_auth": auth[:], "auth": auth[:], "account": env, "recovery": [][]byte{}},
		map[string]any{"code": "123456"},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte(`{"user":"a","auth":"","device":{"id":"","name":"\u0000"}} trailing`))
	f.Add([]byte(`{"recovery":[null,"AA=="],"code":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, v := range bodies() {
			if err := parseJSON(bytes.NewReader(b), v); err != nil {
				if e := fromErr(err); e.code != codeInvalid && e.code != codeTooLarge {
					t.Fatalf("%T: error code %s", v, e.code)
				}
				continue
			}
			if v.check() != nil {
				continue
			}
			checkedBody(t, v)
		}
	})
}

// checkedBody checks the promises of a body that passed its check.
func checkedBody(t *testing.T, v checker) {
	dev := func(d deviceReq) {
		if !isHexID(d.ID) || d.Name == "" || len(d.Name) > maxDeviceNameLen || !utf8.ValidString(d.Name) {
			t.Fatalf("device %+v passed", d)
		}
	}
	user := func(u string) {
		if checkUser(u) != nil || strings.ContainsAny(u, "/\\\x00 ") || u == "." || u == ".." {
			t.Fatalf("user %q passed", u)
		}
	}
	switch q := v.(type) {
	case *signupReq:
		user(q.User)
		dev(q.Device)
		_ = credentials(q.Auth, q.Account) // panics on an unchecked envelope
		if len(q.Auth) != authSize || len(q.Recovery) > 64 {
			t.Fatalf("signup %+v passed", q)
		}
	case *loginReq:
		user(q.User)
		dev(q.Device)
		if len(q.Auth) != authSize || len(q.OTP) > maxCodeLen {
			t.Fatalf("login %+v passed", q)
		}
	case *recoverReq:
		user(q.User)
		dev(q.Device)
		_ = credentials(q.Auth, q.Account)
	case *recoverEnvelopeReq:
		user(q.User)
		if len(q.CodeAuth) != authSize {
			t.Fatalf("recover/account %+v passed", q)
		}
	case *passphraseReq:
		_ = credentials(q.Auth, q.Account)
		for _, h := range q.Recovery {
			if len(h) != authSize {
				t.Fatalf("recovery hash of %d bytes passed", len(h))
			}
		}
	case *codeReq:
		if q.Code == "" || len(q.Code) > maxCodeLen {
			t.Fatalf("code %q passed", q.Code)
		}
	case *totpConfirmReq:
		if q.Code == "" || len(q.Code) > maxCodeLen || len(q.Auth) != authSize {
			t.Fatalf("code %q, auth of %d bytes passed", q.Code, len(q.Auth))
		}
	}
}

func FuzzRange(f *testing.F) {
	for _, h := range []string{"", "bytes=0-", "bytes=2-5", "bytes=5-2", "bytes=-3", "bytes=0-1,2-3", "bytes=9223372036854775807-", "bytes=1-9223372036854775807"} {
		f.Add(h, int64(16))
	}
	f.Add("bytes=0-0", int64(0))
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			return
		}
		off, n, partial, err := parseRange(h, size)
		if err != nil {
			if c := fromErr(err).code; c != codeInvalid && c != codeBadRange {
				t.Fatalf("Range %q: code %s", h, c)
			}
			return
		}
		if off < 0 || n < 0 || off > size || n > size-off || partial == (h == "") || partial && n < 1 {
			t.Fatalf("Range %q of %d: off %d, n %d, partial %v", h, size, off, n, partial)
		}
	})
}

// FuzzQueries feeds the list and watch query parsers. What passes is a
// bounded prefix of object-name characters and numbers within bounds.
func FuzzQueries(f *testing.F) {
	for _, q := range []string{"", "prefix=volumes/&after=volumes/a&limit=10", "limit=0", "prefix=%2e%2e", "cursor=0123456789abcdef-12&timeout=60",
		"timeout=61", "a=1&a=2", "%zz", "prefix=" + strings.Repeat("a", 600)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if lq, err := parseListQuery(raw); err == nil {
			if lq.limit < 1 || lq.limit > maxList || !namePrefix(lq.prefix) || !namePrefix(lq.after) {
				t.Fatalf("list query %q: %+v", raw, lq)
			}
		}
		if wq, err := parseWatchQuery(raw); err == nil {
			if wq.timeout < 0 || wq.timeout.Seconds() > maxWatch || !namePrefix(wq.prefix) || wq.empty != (wq.cursor == cursor{}) {
				t.Fatalf("watch query %q: %+v", raw, wq)
			}
		}
	})
}

// namePrefix reports whether s is at most as long as a name and holds only
// the bytes of object names.
func namePrefix(s string) bool {
	return len(s) <= blob.MaxNameLen && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == ""
}

func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "0123456789abcdef-0", "0123456789abcdef-18446744073709551615", "0123456789abcdef-18446744073709551616", "x-1", "0123456789abcdef-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := parseCursor(s)
		if !ok || s == "" {
			return
		}
		if c.String() != s {
			t.Fatalf("cursor %q reads as %q", s, c.String())
		}
		if c2, ok := parseCursor(c.String()); !ok || c2 != c {
			t.Fatalf("cursor %q does not round-trip", s)
		}
	})
}

func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer " + strings.Repeat("A", 43), "bearer " + strings.Repeat("_", 43), "Bearer x", "Basic abc", "Bearer " + strings.Repeat("A", 42) + "B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if _, ok := parseBearer(h); ok && len(h) != len("Bearer ")+43 {
			t.Fatalf("bearer %q passed", h)
		}
	})
}

func FuzzUser(f *testing.F) {
	for _, s := range []string{"alice", "a.b-c_d", "-a", "A", "", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		if checkUser(u) != nil {
			return
		}
		if len(u) < 1 || len(u) > maxUserLen || u[0] == '.' || u[0] == '-' || u[0] == '_' || strings.ToLower(u) != u || !utf8.ValidString(u) {
			t.Fatalf("user %q passed", u)
		}
	})
}
