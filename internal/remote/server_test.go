package remote_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	stderrors "errors"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/server"
	"github.com/dvpc/dvpc/internal/totp"
)

// These tests run the client against the real server, on 127.0.0.1.

// startServer serves cfg (a temporary data folder and a free loopback port
// unless set) until the test ends.
func startServer(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.Data == "" {
		cfg.Data = t.TempDir()
	}
	cfg.Listen, cfg.Signup, cfg.Log = "127.0.0.1:0", true, slog.New(slog.DiscardHandler)
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// user is an account's sign-up: what a login needs again.
type user struct {
	name string
	auth []byte
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// signup makes an account on the server at url and returns a client
// logged in to it.
func signup(t testing.TB, url string, o remote.Options) (*remote.Client, user) {
	t.Helper()
	c, err := remote.New(url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	envelope, auth := newEnvelope()
	u := user{name: "u" + randHex(4), auth: auth}
	_, err = c.Signup(t.Context(), &remote.SignupRequest{User: u.name, Auth: u.auth, Account: envelope,
		Device: remote.DeviceRef{ID: randHex(16), Name: "first"}})
	if err != nil {
		t.Fatalf("Signup: %v", err)
	}
	return c, u
}

// login logs a new device in to u's account.
func login(t testing.TB, url string, u user, otp string) (*remote.Client, error) {
	c, err := remote.New(url, remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	_, err = c.Login(t.Context(), &remote.LoginRequest{User: u.name, Auth: u.auth, OTP: otp,
		Device: remote.DeviceRef{ID: randHex(16), Name: "another"}})
	return c, err
}

// withoutAccount is an account's store without the object "account" that
// sign-up puts there, so that it starts empty as blobtest wants.
type withoutAccount struct{ *remote.Store }

func (s withoutAccount) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	return s.Store.List(ctx, prefix, func(in blob.Info) error {
		if in.Name == "account" {
			return nil
		}
		return fn(in)
	})
}

// The mirror kind http passes the conformance suite against the real
// server, one server and account for each test.
func TestServerStore(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store {
		c, _ := signup(t, startServer(t, server.Config{}).URL(), remote.Options{})
		return withoutAccount{c.Store()}
	})
}

// A watch is woken by another device's put, at once.
func TestServerWatch(t *testing.T) {
	url := startServer(t, server.Config{}).URL()
	a, u := signup(t, url, remote.Options{})
	b, err := login(t, url, u, "")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := a.Watch(t.Context(), "vol/", "", 0)
	if err != nil || ch.Cursor == "" || len(ch.Names) != 0 {
		t.Fatalf("first Watch = %+v, %v", ch, err)
	}
	sent := make(chan struct{})
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { close(sent) }}
	type result struct {
		ch  *remote.Changes
		err error
		at  time.Time
	}
	done := make(chan result)
	go func() {
		ch, err := a.Watch(httptrace.WithClientTrace(t.Context(), trace), "vol/", ch.Cursor, 30*time.Second)
		done <- result{ch, err, time.Now()}
	}()
	<-sent
	if err := b.Store().Put(t.Context(), "other/x", []byte("not watched")); err != nil {
		t.Fatal(err)
	}
	if err := b.Store().Put(t.Context(), "vol/x", []byte("watched")); err != nil {
		t.Fatal(err)
	}
	put := time.Now()
	r := <-done
	if r.err != nil || !slices.Equal(r.ch.Names, []string{"vol/x"}) || r.ch.Reset {
		t.Fatalf("Watch = %+v, %v; want [vol/x]", r.ch, r.err)
	}
	if d := r.at.Sub(put); d > 300*time.Millisecond {
		t.Errorf("Watch returned %v after the put", d)
	}
}

// The codes a user must tell apart come from the real server as the
// protocol says.
func TestServerCodes(t *testing.T) {
	url := startServer(t, server.Config{}).URL()
	a, u := signup(t, url, remote.Options{})
	s := a.Store()
	check := func(what string, err error, kind errors.Kind, code string) {
		t.Helper()
		if errors.KindOf(err) != kind || remote.Code(err) != code {
			t.Errorf("%s: %v (kind %v, code %q), want %v, %q", what, err, errors.KindOf(err), remote.Code(err), kind, code)
		}
	}
	_, err := login(t, url, user{u.name, make([]byte, 32)}, "")
	check("Login with a wrong passphrase", err, errors.Permission, remote.CodeBadCredentials)
	_, err = s.Get(t.Context(), "missing", 0, -1)
	check("Get of a missing object", err, errors.NotExist, remote.CodeNotFound)
	check("Put of the account envelope", s.Put(t.Context(), "account", []byte("x")), errors.Permission, remote.CodeForbidden)
	check("Delete of the account envelope", s.Delete(t.Context(), "account"), errors.Permission, remote.CodeForbidden)
	envelope, _ := newEnvelope()
	_, err = a.Signup(t.Context(), &remote.SignupRequest{User: u.name, Auth: u.auth, Account: envelope,
		Device: remote.DeviceRef{ID: randHex(16), Name: "again"}})
	check("Signup of a taken name", err, errors.Exist, remote.CodeExists)

	b, err := login(t, url, u, "")
	if err != nil {
		t.Fatal(err)
	}
	devs, err := a.Devices(t.Context())
	if err != nil || len(devs) != 2 {
		t.Fatalf("Devices = %+v, %v", devs, err)
	}
	for _, d := range devs {
		if !d.Current {
			if err := a.Revoke(t.Context(), d.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, err = b.Account(t.Context())
	check("Account of a revoked device", err, errors.Permission, remote.CodeDeviceRevoked)
	if err := a.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}
	a2, _ := remote.New(url, remote.Options{Token: "x" + strings.Repeat("A", 42)})
	_, err = a2.Store().Stat(t.Context(), "account")
	check("Stat with an unknown token", err, errors.Permission, "")
	_, err = a2.Account(t.Context())
	check("Account with an unknown token", err, errors.Permission, remote.CodeUnauthenticated)
}

// newEnvelope returns a new account envelope and the auth key of its
// passphrase.
func newEnvelope() ([]byte, []byte) {
	acct, _, auth := keys.NewAccount([]byte("passphrase"), nil, keys.TestParams())
	return acct.Marshal(), auth[:]
}

// TOTP: turned on with a code, then asked for by a login, refused when
// wrong, accepted when right.
func TestServerTOTP(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	url := startServer(t, server.Config{Now: clock}).URL()
	a, u := signup(t, url, remote.Options{})
	sec, err := a.TOTPBegin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	key, err := totp.Decode(sec.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.TOTPConfirm(t.Context(), totp.Code(key, clock()), u.auth); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, url, u, ""); remote.Code(err) != remote.CodeOTPRequired {
		t.Errorf("Login without a code: %v, want %s", err, remote.CodeOTPRequired)
	}
	now.Add(int64(2 * totp.Period * time.Second))
	wrong := "000000"
	for step := -1; step <= 1; step++ {
		if totp.Code(key, clock().Add(time.Duration(step*totp.Period)*time.Second)) == wrong {
			wrong = "000001"
		}
	}
	if _, err := login(t, url, u, wrong); remote.Code(err) != remote.CodeBadOTP {
		t.Errorf("Login with a wrong code: %v, want %s", err, remote.CodeBadOTP)
	}
	if _, err := login(t, url, u, totp.Code(key, clock())); err != nil {
		t.Errorf("Login with the right code: %v", err)
	}
	acct, err := a.Account(t.Context())
	if err != nil || !acct.TOTP || acct.User != u.name {
		t.Errorf("Account = %+v, %v", acct, err)
	}
}

// A server with its own self-signed certificate: Probe shows the
// fingerprint the server reports, a client pinned to it works, and one
// pinned to another is refused.
func TestServerPinned(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, cert, key)
	srv := startServer(t, server.Config{TLSCert: cert, TLSKey: key})
	url := srv.URL()
	if !strings.HasPrefix(url, "https://") || srv.Fingerprint() == "" {
		t.Fatalf("server URL %s, fingerprint %q", url, srv.Fingerprint())
	}
	fp, selfSigned, err := remote.Probe(t.Context(), url)
	if err != nil || fp != srv.Fingerprint() || !selfSigned {
		t.Fatalf("Probe = %s, %v, %v; the server says %s", fp, selfSigned, err, srv.Fingerprint())
	}
	c, _ := signup(t, url, remote.Options{Fingerprint: fp})
	if err := c.Store().Put(t.Context(), "obj", []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	other, _ := remote.New(url, remote.Options{Token: c.Token(), Fingerprint: strings.Repeat("0", 64)})
	_, err = other.Store().Get(t.Context(), "obj", 0, -1)
	if errors.KindOf(err) != errors.Permission || !stderrors.Is(err, remote.ErrCertChanged) {
		t.Errorf("Get pinned to another certificate: %v", err)
	}
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key as PEM files.
func writeSelfSigned(t testing.TB, certFile, keyFile string) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "dvpc test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkServerStore(b *testing.B) {
	blobtest.BenchmarkStore(b, func(b *testing.B) blob.Store {
		c, _ := signup(b, startServer(b, server.Config{}).URL(), remote.Options{})
		return withoutAccount{c.Store()}
	})
}

// A recovery code set with a passphrase change shows the envelope to a
// user without a token, then logs them in once, and only once.
func TestServerRecovery(t *testing.T) {
	url := startServer(t, server.Config{}).URL()
	a, u := signup(t, url, remote.Options{})
	envelope, auth := newEnvelope()
	codeAuth := make([]byte, 32)
	rand.Read(codeAuth)
	sum := sha256.Sum256(codeAuth)
	err := a.ChangePassphrase(t.Context(), &remote.PassphraseRequest{OldAuth: u.auth, Auth: auth, Account: envelope, Recovery: [][]byte{sum[:]}})
	if err != nil {
		t.Fatal(err)
	}
	if acct, err := a.Account(t.Context()); err != nil || acct.RecoveryCodes != 1 {
		t.Fatalf("Account = %+v, %v; want 1 recovery code", acct, err)
	}
	c, _ := remote.New(url, remote.Options{})
	defer c.Close()
	got, err := c.RecoveryAccount(t.Context(), u.name, codeAuth)
	if err != nil || !bytes.Equal(got, envelope) {
		t.Fatalf("RecoveryAccount = %d bytes, %v; want the envelope", len(got), err)
	}
	_, err = c.RecoveryAccount(t.Context(), u.name, make([]byte, 32))
	if remote.Code(err) != remote.CodeBadCredentials {
		t.Errorf("RecoveryAccount with a wrong code: %v", err)
	}
	newEnv, newAuth := newEnvelope()
	req := &remote.RecoverRequest{User: u.name, CodeAuth: codeAuth, Auth: newAuth, Account: newEnv, Device: remote.DeviceRef{ID: randHex(16), Name: "recovered"}}
	if _, err := c.Recover(t.Context(), req); err != nil || c.Token() == "" {
		t.Fatalf("Recover: %v", err)
	}
	if got, err := c.Store().Get(t.Context(), "account", 0, -1); err != nil || !bytes.Equal(got, newEnv) {
		t.Errorf("account after Recover = %d bytes, %v; want the new envelope", len(got), err)
	}
	if _, err := c.Recover(t.Context(), req); remote.Code(err) != remote.CodeBadCredentials {
		t.Errorf("Recover with a used code: %v", err)
	}
	if _, err := login(t, url, user{u.name, newAuth}, ""); err != nil {
		t.Errorf("Login with the new passphrase: %v", err)
	}
}
