package cli

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeysSealed: what a login keeps on the PC is sealed under the
// passphrase. A thief of the disk alone (no session, nothing remembered)
// finds neither the keys nor a file name nor a byte of content; the
// session that typed the passphrase runs commands without it; 'dvpc lock'
// and 'dvpc unlock [--remember]' do what they say.
func TestKeysSealed(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	a := newPC(t)
	a.ok("init", mirror, "--device", "laptop")
	const name, content = "tax-return-secret-name.txt", "the content nobody else may read"
	src := writeFiles(t, map[string]string{name: strings.Repeat(content, 10)})
	a.ok("import", src, "/docs")
	pass := a.env["DVPC_PASSPHRASE"]

	// The session that logged in stays unlocked.
	delete(a.env, "DVPC_PASSPHRASE")
	if out := a.ok("ls", "/docs"); !strings.Contains(out, name) {
		t.Fatalf("ls in the unlocked session: %q", out)
	}

	// What a thief of the switched-off laptop gets: the disk without the
	// session's runtime folder.
	a.ok("lock")
	c, err := readConfig(a.envFor())
	if err != nil {
		t.Fatal(err)
	}
	k, err := unwrapPCKey(c, []byte(pass))
	if err != nil {
		t.Fatal(err)
	}
	if err := openSecrets(c, k); err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{"volume key": c.VolumeKey, "device key": c.DeviceKey, "PC key": k[:],
		"file name": []byte(name), "content": []byte(content)}
	filepath.Walk(a.home, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for what, s := range secrets {
			for _, form := range [][]byte{s, []byte(base64.StdEncoding.EncodeToString(s)), []byte(hex.EncodeToString(s))} {
				if bytes.Contains(b, form) {
					t.Errorf("%s holds the %s", p, what)
				}
			}
		}
		if strings.Contains(p, name) {
			t.Errorf("a file on the PC is named after a file of the volume: %s", p)
		}
		return nil
	})

	// Locked: commands need the passphrase, and say so.
	a.fails(exitPermission, "locked under the passphrase", "ls", "/docs")
	a.env["DVPC_PASSPHRASE"] = "not the passphrase"
	a.fails(exitPermission, "wrong passphrase", "ls", "/docs")
	a.fails(exitPermission, "wrong passphrase", "unlock")
	a.env["DVPC_PASSPHRASE"] = pass
	if out := a.ok("cat", "/docs/"+name); out != strings.Repeat(content, 10) {
		t.Fatalf("cat with the passphrase: %q", out)
	}
	// ... which unlocked the session again.
	delete(a.env, "DVPC_PASSPHRASE")
	a.ok("ls", "/docs")

	// unlock: for the session; --remember: for good, on this disk.
	a.ok("lock")
	a.env["DVPC_PASSPHRASE"] = pass
	a.ok("unlock")
	delete(a.env, "DVPC_PASSPHRASE")
	a.ok("ls", "/docs")
	a.env["DVPC_PASSPHRASE"] = pass
	a.ok("unlock", "--remember")
	delete(a.env, "DVPC_PASSPHRASE")
	os.RemoveAll(a.env["XDG_RUNTIME_DIR"]) // a reboot
	a.ok("ls", "/docs")
	a.ok("lock")
	a.fails(exitPermission, "locked", "ls", "/docs")
	if _, err := os.Stat(rememberedKeyPath(a.envFor())); !os.IsNotExist(err) {
		t.Fatalf("lock left the remembered key: %v", err)
	}

	// A new passphrase opens this PC's keys too, the old one no longer.
	a.env["DVPC_PASSPHRASE"] = pass
	a.env["DVPC_NEW_PASSPHRASE"] = "a new passphrase"
	a.ok("passphrase")
	a.ok("lock")
	a.fails(exitPermission, "wrong passphrase", "ls", "/docs")
	a.env["DVPC_PASSPHRASE"] = "a new passphrase"
	a.ok("ls", "/docs")
}

// envFor returns the Env of p's commands.
func (p *pc) envFor() *Env {
	return &Env{Getenv: func(k string) string { return p.env[k] }}
}
