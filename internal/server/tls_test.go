package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/errors"
)

// On an address that is not loopback, the server makes a self-signed
// certificate on first start, keeps it, and serves HTTPS (HTTP/2) only.
func TestSelfSignedTLS(t *testing.T) {
	data := t.TempDir()
	ts := start(t, Config{Listen: "0.0.0.0:0", Data: data, Signup: true})
	fp := ts.Fingerprint()
	if len(fp) != 64 || !strings.HasPrefix(ts.URL(), "https://127.0.0.1:") {
		t.Fatalf("fingerprint %q, URL %q", fp, ts.URL())
	}
	key, err := os.Stat(filepath.Join(data, "tls", "key.pem"))
	if err != nil || key.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", key, err)
	}
	certPEM, _ := os.ReadFile(filepath.Join(data, "tls", "cert.pem"))
	block, _ := pem.Decode(certPEM)
	if sum := sha256.Sum256(block.Bytes); hex.EncodeToString(sum[:]) != fp {
		t.Fatal("the fingerprint is not the certificate file's")
	}
	req, _ := http.NewRequest("GET", ts.URL()+"/v1/prelogin?user=alice", nil)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("prelogin over TLS: %d %s", resp.StatusCode, resp.Proto)
	}
	u := ts.signup("alice")
	want(t, "put over TLS", u.put("volumes/v/x", []byte("x")), 204, "")
	// Plain HTTP to the same port gets no answer of the protocol.
	port := ts.Addr()[strings.LastIndexByte(ts.Addr(), ':'):]
	plain, err := http.Get("http://127.0.0.1" + port + "/v1/prelogin?user=alice")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if plain.StatusCode == 200 || strings.Contains(string(b), "salt") {
			t.Fatalf("plain HTTP on a TLS port: %d %s", plain.StatusCode, b)
		}
	}
	// A client pinning another fingerprint is refused.
	other := &http.Client{Transport: &http.Transport{TLSClientConfig: pinned(strings.Repeat("0", 64))}}
	if _, err := other.Get(ts.URL() + "/v1/prelogin?user=alice"); err == nil {
		t.Fatal("a client pinning another certificate connected")
	}
	ts.stop()
	// A restart reuses the certificate.
	ts2 := start(t, Config{Listen: "0.0.0.0:0", Data: data})
	if ts2.Fingerprint() != fp {
		t.Fatal("the fingerprint changed across a restart")
	}
	u.ts = ts2
	want(t, "get after restart", u.get("volumes/v/x"), 200, "")
	ts2.stop()
	// A damaged certificate is an error, not a reason to make a new one.
	os.WriteFile(filepath.Join(data, "tls", "cert.pem"), []byte("garbage"), 0o644)
	if _, err := New(Config{Listen: "0.0.0.0:0", Data: data}); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("start with a damaged certificate: %v", err)
	}
}

func TestPlainHTTP(t *testing.T) {
	// Loopback without certificate: plain HTTP.
	ts := start(t, Config{Signup: true})
	if ts.Fingerprint() != "" || !strings.HasPrefix(ts.URL(), "http://127.0.0.1:") {
		t.Fatalf("loopback: %q %q", ts.Fingerprint(), ts.URL())
	}
	// Not loopback, with InsecureHTTP: plain HTTP, and a warning.
	ts = start(t, Config{Listen: "0.0.0.0:0", InsecureHTTP: true})
	if ts.Fingerprint() != "" || !strings.HasPrefix(ts.URL(), "http://") {
		t.Fatalf("insecure: %q %q", ts.Fingerprint(), ts.URL())
	}
	ts.prelogin("alice")
	if !strings.Contains(ts.logs.String(), "plain HTTP") {
		t.Fatal("no warning about plain HTTP")
	}
	if _, err := os.Stat(filepath.Join(ts.cfg.Data, "tls")); err == nil {
		t.Fatal("a certificate was made for plain HTTP")
	}
}

func TestGivenCertificate(t *testing.T) {
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	certPEM, keyPEM, err := makeCert(ln.Addr())
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, certPEM, 0o644)
	os.WriteFile(key, keyPEM, 0o600)
	ts := start(t, Config{TLSCert: cert, TLSKey: key})
	block, _ := pem.Decode(certPEM)
	sum := sha256.Sum256(block.Bytes)
	if ts.Fingerprint() != hex.EncodeToString(sum[:]) || !strings.HasPrefix(ts.URL(), "https://") {
		t.Fatalf("given certificate: %q %q", ts.Fingerprint(), ts.URL())
	}
	ts.prelogin("alice")
	if s, err := New(Config{Listen: ts.Addr(), Data: t.TempDir()}); !errors.Is(err, errors.Unavailable) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("listen on a port in use: %v", err)
	}
	for _, cfg := range []Config{
		{Listen: "127.0.0.1:0", Data: t.TempDir(), TLSCert: cert},
		{Listen: "127.0.0.1:0", Data: t.TempDir(), TLSKey: key},
		{Listen: "127.0.0.1:0", Data: t.TempDir(), TLSCert: key, TLSKey: cert},
		{Listen: "127.0.0.1:0"},
		{Data: t.TempDir()},
		{Listen: "not an address", Data: t.TempDir()},
	} {
		if s, err := New(cfg); !errors.Is(err, errors.Invalid) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("New(%+v): %v, want Invalid", cfg, err)
		}
	}
}

// Two servers cannot share a data folder.
func TestDataLock(t *testing.T) {
	ts := start(t, Config{})
	if s, err := New(Config{Listen: "127.0.0.1:0", Data: ts.cfg.Data}); err == nil {
		s.Close()
		t.Fatal("a second server opened the same data folder")
	}
	ts.stop()
	s, err := New(Config{Listen: "127.0.0.1:0", Data: ts.cfg.Data, Log: ts.cfg.Log})
	if err != nil {
		t.Fatalf("after the first stopped: %v", err)
	}
	s.Close()
}
