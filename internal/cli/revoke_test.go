package cli

import (
	"path/filepath"
	"strings"
	"testing"
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
