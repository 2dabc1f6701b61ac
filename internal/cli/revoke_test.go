package cli

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/volume"
)

// 'dvpc devices revoke' on a folder mirror revokes and rotates the keys:
// the other PC, which never types the passphrase again, reads and writes
// new data; a new login reads everything; the revoked PC, which still has
// the folder, reads nothing written after the rotation.
func TestRevokeRotatesKeys(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	a, b, x := newPC(t), newPC(t), newPC(t)
	a.ok("init", mirror, "--device", "laptop")
	src := writeFiles(t, map[string]string{"old.txt": "before\n", "new.txt": "after\n", "b.txt": "from b\n"})
	a.ok("put", src+"/old.txt", "/old.txt")
	b.ok("login", mirror, "--device", "desk")
	x.ok("login", mirror, "--device", "stolen")
	delete(b.env, "DVPC_PASSPHRASE")

	// Without the passphrase, nothing is revoked.
	delete(a.env, "DVPC_PASSPHRASE")
	a.fails(exitUsage, "DVPC_PASSPHRASE", "devices", "revoke", "stolen")
	a.env["DVPC_PASSPHRASE"] = b.home // wrong
	a.fails(exitPermission, "", "devices", "revoke", "stolen")
	if out := a.ok("devices"); strings.Contains(out, "REVOKED") {
		t.Fatalf("a failed revoke revoked:\n%s", out)
	}
	a.env["DVPC_PASSPHRASE"] = x.env["DVPC_PASSPHRASE"]
	out := a.ok("devices", "revoke", "stolen")
	if !strings.Contains(out, "generation 2") || !strings.Contains(out, "desk, laptop") || strings.Contains(out, "stolen, ") {
		t.Fatalf("revoke says:\n%s", out)
	}
	a.ok("put", src+"/new.txt", "/new.txt")

	if got := b.ok("cat", "/new.txt"); got != "after\n" {
		t.Fatalf("b reads %q", got)
	}
	b.ok("put", src+"/b.txt", "/b.txt")
	if got := a.ok("cat", "/b.txt"); got != "from b\n" {
		t.Fatalf("a reads %q from b", got)
	}

	c := newPC(t)
	c.ok("login", mirror, "--device", "new")
	for p, want := range map[string]string{"/old.txt": "before\n", "/new.txt": "after\n", "/b.txt": "from b\n"} {
		if got := c.ok("cat", p); got != want {
			t.Fatalf("new login reads %s as %q", p, got)
		}
	}

	x.fails(exitPermission, "key generation 2", "cat", "/new.txt")
	x.fails(exitPermission, "key generation 2", "ls", "/")
}

// The stolen PC holds the volume key and the folder: it plants a record of
// a device whose keys it keeps, signed with its own device key. The owner's
// revoke refuses it, naming the object, instead of sharing the new key
// generation with it; once the object is removed, the revoke goes through
// and shares with the owner's devices only.
func TestRevokeRefusesSleeper(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	a, x := newPC(t), newPC(t)
	a.ok("init", mirror, "--device", "laptop")
	x.ok("login", mirror, "--device", "stolen")

	c, err := loadConfig(x.environ())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.AccountKey) != ed25519.PublicKeySize {
		t.Fatalf("the login kept account key %x", c.AccountKey)
	}
	volID, err := dvpc.ParseVolumeID(c.Volume)
	if err != nil {
		t.Fatal(err)
	}
	sleeper := volume.NewIdentity("sleeper")
	d := &volume.Device{ID: sleeper.ID, Name: sleeper.Name, Public: sleeper.Key.Public().(ed25519.PublicKey),
		X25519: keys.DeviceX25519(sleeper.Key).PublicKey().Bytes(), Created: time.Now()}
	d.Sign(volID, ed25519.NewKeyFromSeed(c.DeviceKey))
	rec := filepath.Join(mirror, "volumes", c.Volume, "devices", sleeper.ID.String())
	if err := os.WriteFile(rec, d.Marshal(keys.ForVolume(keys.Key(c.VolumeKey)).Meta, 1), 0o644); err != nil {
		t.Fatal(err)
	}

	// The planted record is ignored with a warning that names it; the
	// revocation and rotation go ahead and share nothing with it.
	_, errs, code := a.run("devices", "revoke", "stolen")
	if code != 0 || !strings.Contains(errs, "ignoring") || !strings.Contains(errs, "devices/"+sleeper.ID.String()) {
		t.Fatalf("revoke with a planted record: exit %d, stderr %q", code, errs)
	}
	a.fails(exitCorrupt, "problems found", "check")
	if out := a.ok("check", "--remove-forged"); !strings.Contains(out, "removed forged devices/"+sleeper.ID.String()) {
		t.Fatalf("check --remove-forged:\n%s", out)
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Fatalf("the planted record is still there: %v", err)
	}
	a.ok("check")
	if _, err := os.Stat(filepath.Join(mirror, "volumes", c.Volume, "keys", "00000002", sleeper.ID.String())); !os.IsNotExist(err) {
		t.Fatalf("a key share for the sleeper: %v", err)
	}
}

// A login from before device records were signed kept no account key: the
// PC is told to log in again.
func TestLoginWithoutAccountKey(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	a := newPC(t)
	a.ok("init", mirror, "--device", "laptop")
	env := a.environ()
	c, err := loadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	c.AccountKey = nil
	if err := saveConfig(env, c); err != nil {
		t.Fatal(err)
	}
	a.fails(exitUsage, "log in again", "ls", "/")
	a.ok("login", mirror, "--device", "laptop")
	a.ok("ls", "/")
}
