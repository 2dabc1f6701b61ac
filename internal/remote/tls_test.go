package remote

import (
	"crypto/sha256"
	"encoding/hex"
	stderrors "errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/errors"
)

func certFingerprint(srv *httptest.Server) string {
	sum := sha256.Sum256(srv.Certificate().Raw)
	return hex.EncodeToString(sum[:])
}

// A pinned self-signed certificate is accepted, in any spelling of its
// fingerprint.
func TestPinned(t *testing.T) {
	f, srv := startFake(t, true)
	fp := certFingerprint(srv)
	var colons []string
	for i := 0; i < len(fp); i += 2 {
		colons = append(colons, strings.ToUpper(fp[i:i+2]))
	}
	for _, pin := range []string{fp, strings.Join(colons, ":")} {
		c, err := New(srv.URL, Options{Token: f.token, Fingerprint: pin})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s := c.Store()
		if err := s.Put(t.Context(), "obj", []byte("pinned")); err != nil {
			t.Fatalf("Put with the right pin %s: %v", pin, err)
		}
		if got, err := s.Get(t.Context(), "obj", 0, -1); err != nil || string(got) != "pinned" {
			t.Fatalf("Get with the right pin = %q, %v", got, err)
		}
	}
}

// Another certificate than the pinned one is refused, with a message that
// says so and what to do, and is not retried.
func TestPinWrong(t *testing.T) {
	f, srv := startFake(t, true)
	c, err := New(srv.URL, Options{Token: f.token, Fingerprint: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Store().Get(t.Context(), "obj", 0, -1)
	if errors.KindOf(err) != errors.Permission || !stderrors.Is(err, ErrCertChanged) {
		t.Fatalf("Get with the wrong pin: %v, want Permission and ErrCertChanged", err)
	}
	msg := err.Error()
	for _, want := range []string{"certificate of the server " + srv.Listener.Addr().String() + " changed", certFingerprint(srv), strings.Repeat("ab", 32), "log in again"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if n := f.count("GET /v1/o/obj"); n != 0 {
		t.Errorf("the server had %d requests through a refused certificate", n)
	}
}

// Without a pin, a self-signed certificate fails the system's
// verification, with a hint to pin it.
func TestNoPinSelfSigned(t *testing.T) {
	f, srv := startFake(t, true)
	c, err := New(srv.URL, Options{Token: f.token})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Store().Stat(t.Context(), "obj")
	if errors.KindOf(err) != errors.Unavailable || !strings.Contains(err.Error(), "does not trust") || stderrors.Is(err, ErrCertChanged) {
		t.Fatalf("Stat of a self-signed server without a pin: %v", err)
	}
	if f.count("HEAD /v1/o/obj") != 0 {
		t.Error("a request went through an untrusted certificate")
	}
}

func TestProbe(t *testing.T) {
	_, srv := startFake(t, true)
	fp, selfSigned, err := Probe(t.Context(), srv.URL)
	if err != nil || fp != certFingerprint(srv) || !selfSigned {
		t.Fatalf("Probe = %s, %v, %v; want %s, true", fp, selfSigned, err, certFingerprint(srv))
	}
	if _, _, err := Probe(t.Context(), "http://127.0.0.1:1"); errors.KindOf(err) != errors.Invalid {
		t.Errorf("Probe of http://: %v, want Invalid", err)
	}
	plain := httptest.NewServer(nil)
	defer plain.Close()
	_, _, err = Probe(t.Context(), strings.Replace(plain.URL, "http:", "https:", 1))
	if errors.KindOf(err) != errors.Unavailable || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Errorf("Probe of a server without TLS: %v", err)
	}
}

// Plain http is refused to any host but the loopback, unless allowed.
func TestPlainHTTP(t *testing.T) {
	for _, u := range []string{"http://example.com", "http://192.168.1.10:8080", "http://10.0.0.1", "http://localhost.example.com"} {
		_, err := New(u, Options{})
		if errors.KindOf(err) != errors.Invalid || !strings.Contains(err.Error(), "refusing plain http://") {
			t.Errorf("New(%s): %v, want a refusal", u, err)
		}
		if _, err := New(u, Options{AllowPlainHTTP: true}); err != nil {
			t.Errorf("New(%s) with plain HTTP allowed: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:1", "http://127.5.6.7", "https://example.com", "https://example.com:8443/dvpc/"} {
		if _, err := New(u, Options{}); err != nil {
			t.Errorf("New(%s): %v", u, err)
		}
	}
	for _, u := range []string{"ftp://example.com", "example.com:8443", "https://", "https://u:p@example.com", "https://example.com/?q=1", "https://example.com/#f", "://x"} {
		if _, err := New(u, Options{}); errors.KindOf(err) != errors.Invalid {
			t.Errorf("New(%s): %v, want Invalid", u, err)
		}
	}
}

// A route prefix in the URL is kept.
func TestURLPrefix(t *testing.T) {
	c, err := New("https://example.com:8443/dvpc/", Options{})
	if err != nil || c.base != "https://example.com:8443/dvpc" {
		t.Fatalf("base = %q, %v", c.base, err)
	}
}

func TestParseFingerprint(t *testing.T) {
	for _, fp := range []string{"ab", strings.Repeat("g", 64), strings.Repeat("ab", 33), strings.Repeat("a", 63)} {
		if _, err := New("https://example.com", Options{Fingerprint: fp}); errors.KindOf(err) != errors.Invalid {
			t.Errorf("New with fingerprint %q: %v, want Invalid", fp, err)
		}
	}
}
