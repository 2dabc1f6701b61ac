package totp

import (
	"net/url"
	"strings"
	"testing"
)

func TestURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	got := URI("DVPC", "alice", secret)
	want := "otpauth://totp/DVPC:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=DVPC&algorithm=SHA1&digits=6&period=30"
	if got != want {
		t.Errorf("URI = %s\nwant  %s", got, want)
	}
	got = URI("ACME Co", "alice@example.com", secret)
	if !strings.HasPrefix(got, "otpauth://totp/ACME%20Co:alice%40example.com?secret=") || !strings.Contains(got, "&issuer=ACME%20Co&") {
		t.Errorf("URI = %s", got)
	}
	if got := URI("", "bob", secret); !strings.HasPrefix(got, "otpauth://totp/bob?secret=") || strings.Contains(got, "issuer") {
		t.Errorf("URI without an issuer = %s", got)
	}
}

// Whatever the issuer and user hold, the URI parses back to them.
func TestURIEscapes(t *testing.T) {
	for _, c := range []struct{ issuer, user string }{
		{"A:B", "c:d"},
		{"x&secret=AAAA", "y?issuer=z#frag"},
		{"100% sure/+", "é ü 日本"},
		{"a=b;c,d", "name with spaces"},
	} {
		raw := URI(c.issuer, c.user, []byte("12345678901234567890"))
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		q := u.Query()
		if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("issuer") != c.issuer || q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || len(q) != 5 {
			t.Errorf("%s parses to %v %v", raw, u, q)
		}
		label := strings.TrimPrefix(u.EscapedPath(), "/")
		if strings.Count(label, ":") != 1 {
			t.Fatalf("%s: label %q has %d literal colons", raw, label, strings.Count(label, ":"))
		}
		is, us, _ := strings.Cut(label, ":")
		if a, _ := url.PathUnescape(is); a != c.issuer {
			t.Errorf("%s: issuer %q", raw, a)
		}
		if a, _ := url.PathUnescape(us); a != c.user {
			t.Errorf("%s: user %q", raw, a)
		}
	}
}
