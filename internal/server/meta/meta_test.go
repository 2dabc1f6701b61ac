package meta

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	stderrors "errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func newAccount(id, user string, dev *NewDevice) NewAccount {
	return NewAccount{
		ID: id, User: user,
		Credentials: Credentials{
			AuthHash: sha256.Sum256([]byte("auth " + user)),
			KDF:      KDF{Time: 3, MemoryKiB: 65536, Threads: 4},
			Salt:     [16]byte{1, 2, 3},
			Envelope: []byte("envelope of " + user),
		},
		Used:    int64(len("envelope of " + user)),
		Device:  dev,
		Created: time.Now(),
	}
}

func device(id string) *NewDevice {
	return &NewDevice{ID: id, Name: "pc " + id, TokenHash: sha256.Sum256([]byte("token " + id)), Now: time.Now()}
}

func TestAccountLifecycle(t *testing.T) {
	ctx := context.Background()
	d := open(t, filepath.Join(t.TempDir(), "meta.db"))
	if err := d.CreateAccount(ctx, newAccount("a1", "alice", device("d1"))); err != nil {
		t.Fatal(err)
	}
	if err := d.CreateAccount(ctx, newAccount("a2", "alice", nil)); !errors.Is(err, errors.Exist) {
		t.Fatalf("second alice: %v, want Exist", err)
	}
	if _, err := d.Account(ctx, "a2"); !errors.Is(err, errors.NotExist) {
		t.Fatalf("the refused account was stored: %v", err)
	}
	a, err := d.AccountByUser(ctx, "alice")
	if err != nil || a.ID != "a1" || a.KDF.MemoryKiB != 65536 || a.Salt[0] != 1 || a.Used != 17 || a.Disabled {
		t.Fatalf("AccountByUser: %+v, %v", a, err)
	}
	if _, err := d.AccountByUser(ctx, "bob"); !errors.Is(err, errors.NotExist) {
		t.Fatalf("unknown user: %v", err)
	}
	s, err := d.Authenticate(ctx, device("d1").TokenHash)
	if err != nil || s.Account.ID != "a1" || s.Device.ID != "d1" || !s.Device.Revoked.IsZero() {
		t.Fatalf("Authenticate: %+v, %v", s, err)
	}
	if err := d.SetDisabled(ctx, "a1", true); err != nil {
		t.Fatal(err)
	}
	if err := d.SetQuota(ctx, "a1", 1000); err != nil {
		t.Fatal(err)
	}
	if err := d.AddUsed(ctx, "a1", -100); err != nil {
		t.Fatal(err)
	}
	a, _ = d.Account(ctx, "a1")
	if !a.Disabled || a.Quota != 1000 || a.Used != 0 {
		t.Fatalf("after disable, quota, negative usage: %+v", a)
	}
	if err := d.SetQuota(ctx, "nobody", 1); !errors.Is(err, errors.NotExist) {
		t.Fatalf("quota of a missing account: %v", err)
	}
}

func TestDevices(t *testing.T) {
	ctx := context.Background()
	d := open(t, filepath.Join(t.TempDir(), "meta.db"))
	if err := d.CreateAccount(ctx, newAccount("a1", "alice", device("d1"))); err != nil {
		t.Fatal(err)
	}
	// A second login of d1 replaces its token.
	again := device("d1")
	again.TokenHash = sha256.Sum256([]byte("new token"))
	if err := d.Login(ctx, "a1", *again); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, device("d1").TokenHash); !errors.Is(err, errors.NotExist) {
		t.Fatalf("old token after a new login: %v", err)
	}
	if err := d.Login(ctx, "a1", *device("d2")); err != nil {
		t.Fatal(err)
	}
	if err := d.Revoke(ctx, "a1", "d2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := d.Revoke(ctx, "a1", "d2", time.Now()); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := d.Revoke(ctx, "a1", "d9", time.Now()); !errors.Is(err, errors.NotExist) {
		t.Fatalf("revoking an unknown device: %v", err)
	}
	s, err := d.Authenticate(ctx, device("d2").TokenHash)
	if err != nil || s.Device.Revoked.IsZero() {
		t.Fatalf("a revoked device's token: %+v %v", s, err)
	}
	if err := d.Login(ctx, "a1", *device("d2")); !errors.Is(err, errors.Permission) || !stderrors.Is(err, ErrRevoked) {
		t.Fatalf("login of a revoked id: %v", err)
	}
	if err := d.Logout(ctx, again.TokenHash); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Authenticate(ctx, again.TokenHash); !errors.Is(err, errors.NotExist) {
		t.Fatalf("token after logout: %v", err)
	}
	devs, err := d.Devices(ctx, "a1")
	if err != nil || len(devs) != 2 || devs[0].ID != "d1" || devs[1].Revoked.IsZero() {
		t.Fatalf("Devices: %+v %v", devs, err)
	}
	// A token hash is unique across accounts.
	other := newAccount("a2", "bob", device("d1"))
	other.Device.TokenHash = again.TokenHash
	if err := d.CreateAccount(ctx, other); err != nil {
		t.Fatal(err)
	}
	dup := device("d3")
	dup.TokenHash = again.TokenHash
	if err := d.Login(ctx, "a1", *dup); !errors.Is(err, errors.Exist) {
		t.Fatalf("duplicate token hash: %v", err)
	}
}

func TestRecoveryAndCredentials(t *testing.T) {
	ctx := context.Background()
	d := open(t, filepath.Join(t.TempDir(), "meta.db"))
	na := newAccount("a1", "alice", nil)
	code := sha256.Sum256([]byte("code 1"))
	na.Recovery = [][32]byte{code, sha256.Sum256([]byte("code 2"))}
	if err := d.CreateAccount(ctx, na); err != nil {
		t.Fatal(err)
	}
	if n, err := d.RecoveryCodes(ctx, "a1"); n != 2 || err != nil {
		t.Fatalf("RecoveryCodes: %d %v", n, err)
	}
	c := na.Credentials
	c.AuthHash = sha256.Sum256([]byte("new auth"))
	c.Envelope = []byte("new envelope")
	if err := d.Recover(ctx, "a1", code, c, *device("d1")); err != nil {
		t.Fatal(err)
	}
	if err := d.Recover(ctx, "a1", code, na.Credentials, *device("d2")); !errors.Is(err, errors.Permission) {
		t.Fatalf("second use of a code: %v", err)
	}
	a, _ := d.Account(ctx, "a1")
	if a.AuthHash != c.AuthHash || !bytes.Equal(a.Envelope, c.Envelope) {
		t.Fatal("the refused recovery changed the credentials")
	}
	if _, err := d.Authenticate(ctx, device("d2").TokenHash); err == nil {
		t.Fatal("the refused recovery logged a device in")
	}
	// nil keeps the codes; an empty slice removes them.
	if err := d.SetCredentials(ctx, "a1", c, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.RecoveryCodes(ctx, "a1"); n != 1 {
		t.Fatalf("nil recovery changed the codes: %d", n)
	}
	if err := d.SetCredentials(ctx, "a1", c, [][32]byte{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := d.RecoveryCodes(ctx, "a1"); n != 0 {
		t.Fatalf("empty recovery kept %d codes", n)
	}
	if err := d.SetCredentials(ctx, "a1", c, make([][32]byte, MaxRecoveryCodes+1)); !errors.Is(err, errors.Invalid) {
		t.Fatalf("too many codes: %v", err)
	}
}

func TestTOTPSteps(t *testing.T) {
	ctx := context.Background()
	d := open(t, filepath.Join(t.TempDir(), "meta.db"))
	if err := d.CreateAccount(ctx, newAccount("a1", "alice", nil)); err != nil {
		t.Fatal(err)
	}
	if err := d.UseTOTPStep(ctx, "a1", 5); !errors.Is(err, errors.Conflict) {
		t.Fatalf("step with TOTP off: %v", err)
	}
	if err := d.SetTOTPPending(ctx, "a1", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if err := d.EnableTOTP(ctx, "a1", []byte("other"), 10); !errors.Is(err, errors.Conflict) {
		t.Fatalf("enable with a stale pending secret: %v", err)
	}
	if err := d.EnableTOTP(ctx, "a1", []byte("secret"), 10); err != nil {
		t.Fatal(err)
	}
	if err := d.UseTOTPStep(ctx, "a1", 10); !errors.Is(err, errors.Conflict) {
		t.Fatalf("replayed step: %v", err)
	}
	if err := d.UseTOTPStep(ctx, "a1", 11); err != nil {
		t.Fatal(err)
	}
	if err := d.DisableTOTP(ctx, "a1", 11); !errors.Is(err, errors.Conflict) {
		t.Fatalf("disable with a used step: %v", err)
	}
	if err := d.DisableTOTP(ctx, "a1", 12); err != nil {
		t.Fatal(err)
	}
	a, _ := d.Account(ctx, "a1")
	if a.TOTPSecret != nil || a.TOTPPending != nil || a.TOTPStep != 12 {
		t.Fatalf("after disable: %+v", a)
	}
}

// Two handles on one file stand for the server and an operator's command:
// a change by one is seen by the other at once, and concurrent writers
// wait for each other instead of failing.
func TestTwoProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	srv, admin := open(t, path), open(t, path)
	if !bytes.Equal(srv.Secret(), admin.Secret()) || len(srv.Secret()) != SecretSize {
		t.Fatal("the two handles disagree on the server secret")
	}
	if err := srv.CreateAccount(ctx, newAccount("a1", "alice", nil)); err != nil {
		t.Fatal(err)
	}
	if err := admin.SetDisabled(ctx, "a1", true); err != nil {
		t.Fatal(err)
	}
	if a, _ := srv.Account(ctx, "a1"); !a.Disabled {
		t.Fatal("the server does not see the operator's change")
	}
	var wg sync.WaitGroup
	for _, db := range []*DB{srv, admin} {
		for range 20 {
			wg.Go(func() {
				if err := db.AddUsed(ctx, "a1", 1); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if a, _ := srv.Account(ctx, "a1"); a.Used != 17+40 {
		t.Fatalf("used after concurrent adds: %d", a.Used)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	d := open(t, path)
	secret := d.Secret()
	d.Close()
	d = open(t, path)
	if !bytes.Equal(d.Secret(), secret) {
		t.Fatal("the server secret changed on reopen")
	}
	d.Close()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if _, err := Open(path); !errors.Is(err, errors.Version) {
		t.Fatalf("open of a newer schema: %v", err)
	}
}
