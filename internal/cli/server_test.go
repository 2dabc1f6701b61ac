package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/server"
	"github.com/dvpc/dvpc/internal/totp"
	"github.com/dvpc/dvpc/internal/volume"
)

// startServer runs a real dvpc server on a loopback port for the test.
func startServer(t testing.TB, data string) *server.Server {
	t.Helper()
	s, err := server.New(server.Config{Listen: "127.0.0.1:0", Data: data, Signup: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	})
	return s
}

// The journey of issue 3: sign up on a server, work, log on from a second
// PC and see everything at once, then manage devices and factors.
func TestServerJourney(t *testing.T) {
	srv := startServer(t, t.TempDir())
	url := srv.URL()
	a := newPC(t)
	a.ok("signup", url, "alice", "--device", "laptop")
	src := writeFiles(t, map[string]string{"notes.txt": "one\n", "photos/cat.jpg": strings.Repeat("meow", 5000)})
	a.ok("import", src, "/home")

	// A fresh PC: login, then ls, cat and history work at once.
	b := newPC(t)
	b.ok("login", url, "alice", "--device", "desktop")
	if out := b.ok("ls", "/home"); !strings.Contains(out, "notes.txt") || !strings.Contains(out, "photos") {
		t.Fatalf("ls on the second PC:\n%s", out)
	}
	if out := b.ok("cat", "/home/notes.txt"); out != "one\n" {
		t.Fatalf("cat on the second PC = %q", out)
	}
	b.ok("history", "/home/notes.txt")
	b.ok("put", writeFiles(t, map[string]string{"x": "from b\n"})+"/x", "/home/b.txt")
	if out := a.ok("cat", "/home/b.txt"); out != "from b\n" {
		t.Fatalf("a does not see b's change: %q", out)
	}

	// Wrong passphrase and unknown user get the same clear message.
	c := newPC(t)
	c.env["DVPC_PASSPHRASE"] = "wrong"
	c.fails(exitPermission, "wrong user name or passphrase", "login", url, "alice")
	c.fails(exitPermission, "wrong user name or passphrase", "login", url, "nobody")
	// A taken user name.
	c.fails(exitExist, "", "signup", url, "alice")

	// Devices: both listed; revoking b makes its token fail at once, with
	// its own message.
	out := a.ok("devices")
	if !strings.Contains(out, "laptop") || !strings.Contains(out, "desktop") {
		t.Fatalf("devices:\n%s", out)
	}
	a.ok("devices", "revoke", "desktop")
	b.fails(exitPermission, "this device was revoked", "put", src+"/notes.txt", "/home/late.txt")
	if out := a.ok("devices"); !strings.Contains(out, "REVOKED") {
		t.Fatalf("revoked device not shown:\n%s", out)
	}
	// b logs in again and works.
	b.ok("login", url, "alice", "--device", "desktop")
	b.ok("ls", "/home")

	// Passphrase change: the old one stops working everywhere.
	a.env["DVPC_NEW_PASSPHRASE"] = "a new passphrase"
	a.ok("passphrase")
	d := newPC(t)
	d.fails(exitPermission, "wrong user name or passphrase", "login", url, "alice")
	d.env["DVPC_PASSPHRASE"] = "a new passphrase"
	d.ok("login", url, "alice")
	a.env["DVPC_PASSPHRASE"] = "a new passphrase"

	// Recovery codes: one sets a new passphrase, once.
	out = a.ok("recovery-codes")
	code := recoveryCode(t, out)
	e := newPC(t)
	e.env["DVPC_NEW_PASSPHRASE"] = "recovered passphrase"
	e.ok("recover", url, "alice", "--code", code)
	e.ok("ls", "/home")
	f := newPC(t)
	f.env["DVPC_NEW_PASSPHRASE"] = "again"
	f.fails(exitPermission, "", "recover", url, "alice", "--code", code)
	f.env["DVPC_PASSPHRASE"] = "recovered passphrase"
	f.ok("login", url, "alice")

	// TOTP: on, then a login needs the code, and a wrong code is told apart.
	a.env["DVPC_PASSPHRASE"] = "recovered passphrase"
	out = a.ok("totp", "enable")
	secret := field(t, out, "secret: ")
	sec, err := totp.Decode(secret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.ok("totp", "confirm", "--otp", totp.Code(sec, now))
	g := newPC(t)
	g.env["DVPC_PASSPHRASE"] = "recovered passphrase"
	g.fails(exitPermission, "asks for a TOTP code", "login", url, "alice")
	g.fails(exitPermission, "wrong or already used TOTP code", "login", url, "alice", "--otp", "000000")
	g.ok("login", url, "alice", "--otp", totp.Code(sec, now.Add(30*time.Second)))

	// Volumes: create, rename, use, delete with a grace period.
	a.ok("volumes", "create", "work")
	a.ok("volumes", "rename", "work", "job")
	a.ok("volumes", "use", "job")
	a.ok("put", src+"/notes.txt", "/job.txt")
	if out := a.ok("ls", "/"); !strings.Contains(out, "job.txt") || strings.Contains(out, "home") {
		t.Fatalf("ls of the second volume:\n%s", out)
	}
	a.ok("volumes", "use", "default")
	a.ok("volumes", "delete", "job")
	if out := a.ok("volumes"); !strings.Contains(out, "deleted") {
		t.Fatalf("volumes after delete:\n%s", out)
	}
	a.fails(exitNotExist, "undelete", "volumes", "use", "job")
	a.ok("volumes", "undelete", "job")
	a.ok("volumes", "use", "job")
}

// recoveryCode returns the first code of a recovery-codes listing.
func recoveryCode(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "1." {
			return f[1]
		}
	}
	t.Fatalf("no code in:\n%s", out)
	return ""
}

func field(t *testing.T, out, key string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if i := strings.Index(line, key); i >= 0 {
			return strings.TrimSpace(line[i+len(key):])
		}
	}
	t.Fatalf("no %q in:\n%s", key, out)
	return ""
}

// A quota reached refuses the upload with its own exit code and a clear
// message, and nothing is half-stored.
func TestServerQuota(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	a := newPC(t)
	a.ok("signup", srv.URL(), "bob")
	a.ok("serve", "account", "quota", "bob", "64KiB", "--data", data)
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, randomish(1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	// Over the quota, the change waits on this PC, and the user is told
	// why; nothing of it is on the server.
	_, errs, code := a.run("put", big, "/big")
	if code != 0 || !strings.Contains(errs, "kept on this PC only") || !strings.Contains(errs, "quota") {
		t.Fatalf("put over the quota: exit %d, %q", code, errs)
	}
	if out := a.ok("status"); !strings.Contains(out, "account bob") || !strings.Contains(out, "quota 65.5 kB") || !strings.Contains(out, "NOT YET SAFE") {
		t.Fatalf("status does not show the account's quota and the waiting change:\n%s", out)
	}
	b := newPC(t)
	b.ok("login", srv.URL(), "bob")
	if out := b.ok("ls", "/"); strings.Contains(out, "big") {
		t.Fatalf("a refused upload shows on another PC:\n%s", out)
	}
	// Room again: the next command delivers it, oldest first.
	a.ok("serve", "account", "quota", "bob", "0", "--data", data)
	a.ok("status")
	if got := b.ok("cat", "/big"); got != string(randomish(1<<20)) {
		t.Fatalf("after the quota was raised, another PC reads %d bytes of /big", len(got))
	}
	out := a.ok("serve", "account", "list", "--data", data)
	if !strings.Contains(out, "bob") {
		t.Fatalf("account list:\n%s", out)
	}
	a.ok("serve", "account", "disable", "bob", "--data", data)
	a.fails(exitPermission, "disabled", "ls", "/")
	a.ok("serve", "account", "enable", "bob", "--data", data)
	a.ok("ls", "/")
}

func randomish(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// A self-signed certificate is pinned only once the user has compared its
// fingerprint; a wrong one is refused, and the pin holds after.
func TestServerTLSPinning(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile)
	s, err := server.New(server.Config{Listen: "127.0.0.1:0", Data: filepath.Join(dir, "data"), Signup: true,
		TLSCert: certFile, TLSKey: keyFile, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	url := s.URL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("server URL %s is not https", url)
	}
	fp := s.Fingerprint()
	a := newPC(t)
	a.fails(exitPermission, fp, "signup", url, "carol")
	a.fails(exitPermission, "do not log in", "signup", url, "carol", "--fingerprint", strings.Repeat("ab", 32))
	a.ok("signup", url, "carol", "--fingerprint", strings.ToUpper(fp))
	a.ok("put", writeFiles(t, map[string]string{"f": "tls\n"})+"/f", "/f")
	b := newPC(t)
	b.ok("login", url, "carol", "--fingerprint", fp)
	if out := b.ok("cat", "/f"); out != "tls\n" {
		t.Fatalf("cat over TLS = %q", out)
	}
}

// A key file on a folder mirror: needed to open the account, with its own
// message when missing; recovery codes open it once without it.
func TestKeyFileAndRecoveryOnFolder(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	kf := filepath.Join(t.TempDir(), "stick", "dvpc.key")
	a := newPC(t)
	a.ok("init", mirror, "--key-file", kf)
	if st, err := os.Stat(kf); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	b := newPC(t)
	b.fails(exitPermission, "key file", "login", mirror)
	b.fails(exitNotExist, "key file is missing", "login", mirror, "--key-file", kf+".gone")
	b.ok("login", mirror, "--key-file", kf)

	out := a.ok("recovery-codes", "--key-file", kf)
	code := recoveryCode(t, out)
	c := newPC(t)
	c.env["DVPC_NEW_PASSPHRASE"] = "after recovery"
	c.ok("recover", mirror, "--code", code)
	c.fails(exitPermission, "", "recover", mirror, "--code", code)
	c.env["DVPC_PASSPHRASE"] = "after recovery"
	c.ok("login", mirror)                                        // recovery drops the key file: it may be what was lost
	b.fails(exitPermission, "wrong passphrase", "login", mirror) // the old passphrase is retired
}

func writeSelfSigned(t *testing.T, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dvpc test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Everything a server keeps (its database, the account folders, the TLS
// key) lets no one read a file, a file name or a key without brute-forcing
// the passphrase through Argon2id: none of them appears in any form, and
// the database holds only a hash of the auth key.
func TestServerHoldsNoSecrets(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)
	a := newPC(t)
	pass := "correct horse battery"
	a.ok("signup", srv.URL(), "dave")
	secretName, secretText := "plans-for-the-moon-landing.txt", "the moon is made of cheese, says dave"
	src := writeFiles(t, map[string]string{secretName: secretText, "more/" + secretName: strings.Repeat(secretText, 100)})
	a.ok("import", src, "/private")
	a.ok("recovery-codes")

	c, root, err := loggedInMirror(a.environ())
	if err != nil {
		t.Fatal(err)
	}
	acct, err := volume.ReadAccount(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	st := acct.Stretch([]byte(pass))
	master, err := acct.UnlockWith(st.Unwrap, nil)
	if err != nil {
		t.Fatal(err)
	}
	authHash := sha256.Sum256(st.Auth[:])
	secrets := map[string][]byte{
		"passphrase": []byte(pass), "file name": []byte(secretName), "file text": []byte(secretText),
		"volume key": c.VolumeKey, "device key": c.DeviceKey, "master key": master[:],
		"auth key": st.Auth[:], "unwrap key": st.Unwrap[:], "token": []byte(c.Token),
	}
	var forms [][2]string
	for what, s := range secrets {
		forms = append(forms, [2]string{what, string(s)}, [2]string{what + " (hex)", hex.EncodeToString(s)},
			[2]string{what + " (base64)", base64.StdEncoding.EncodeToString(s)}, [2]string{what + " (base64url)", base64.RawURLEncoding.EncodeToString(s)})
	}
	files, sawHash := 0, false
	err = filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, f := range forms {
			if bytes.Contains(b, []byte(f[1])) {
				t.Errorf("%s holds the %s", p, f[0])
			}
		}
		sawHash = sawHash || bytes.Contains(b, authHash[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 10 || !sawHash {
		t.Fatalf("looked at %d files; found the auth key's hash: %v (the test looks in the wrong place)", files, sawHash)
	}
}

// environ is the pc's environment as the CLI sees it.
func (p *pc) environ() *Env {
	return &Env{Getenv: func(k string) string { return p.env[k] }, Now: time.Now}
}

// A server that asks for weaker key stretching than DVPC's minimum is
// refused before the passphrase is stretched or anything is sent: it could
// otherwise guess the passphrase cheaply from the auth key.
func TestLoginRefusesWeakKDF(t *testing.T) {
	srv := startServer(t, t.TempDir())
	a := newPC(t)
	a.ok("signup", srv.URL(), "frank") // cheap parameters, as tests use
	b := newPC(t)
	delete(b.env, "DVPC_TEST_CHEAP_KDF") // a real client: the floor is the default
	b.fails(exitPermission, "below DVPC's minimum", "login", srv.URL(), "frank")
}

// With the server out of reach, what this PC knows stays readable (with a
// warning), and changes wait on this PC until it is back.
func TestServerUnreachable(t *testing.T) {
	data := t.TempDir()
	s, err := server.New(server.Config{Listen: "127.0.0.1:0", Data: data, Signup: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	a := newPC(t)
	a.ok("signup", s.URL(), "gina")
	a.ok("put", writeFiles(t, map[string]string{"f": "x\n"})+"/f", "/f")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out, errs, code := a.run("ls", "/")
	if code != 0 || !strings.Contains(out, "f") || !strings.Contains(errs, "not reachable") {
		t.Fatalf("ls with the server down: exit %d, %q, %q", code, out, errs)
	}
	_, errs, code = a.run("put", writeFiles(t, map[string]string{"g": "y\n"})+"/g", "/g")
	if code != 0 || !strings.Contains(errs, "kept on this PC only") {
		t.Fatalf("put with the server down: exit %d, %q", code, errs)
	}
	// The server comes back: the next command delivers the change, and
	// another PC sees it.
	s2, err := server.New(server.Config{Listen: strings.TrimPrefix(s.URL(), "http://"), Data: data,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- s2.Serve(ctx2) }()
	t.Cleanup(func() { cancel2(); <-done2 })
	a.ok("status")
	b := newPC(t)
	b.ok("login", s2.URL(), "gina")
	if got := b.ok("cat", "/g"); got != "y\n" {
		t.Fatalf("another PC's cat of the change queued while the server was down: %q", got)
	}
}
