package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dvpc pin keeps files on this PC: with the mirror gone, they read, and
// what was never fetched fails with a clear error.
func TestPinOffline(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	src := writeFiles(t, map[string]string{"docs/a.txt": "pinned text\n", "docs/sub/b.txt": "also pinned\n", "other.txt": "not pinned\n"})
	a.ok("import", src, "/")
	out := a.ok("pin", "/docs")
	if !strings.Contains(out, "/docs\t2 files") {
		t.Fatalf("pin says: %s", out)
	}
	if out := a.ok("pin"); !strings.Contains(out, "/docs") {
		t.Fatalf("pin lists: %s", out)
	}
	if out := a.ok("status"); !strings.Contains(out, "1 pinned paths keep 24 B available offline") {
		t.Fatalf("status: %s", out)
	}
	a.fails(exitNotExist, "no such file", "pin", "/nope")

	// The mirror goes away (an unplugged disk).
	if err := os.Rename(mirror, mirror+".away"); err != nil {
		t.Fatal(err)
	}
	if out := a.ok("cat", "/docs/sub/b.txt"); out != "also pinned\n" {
		t.Fatalf("offline cat of a pinned file: %q", out)
	}
	_, errs, code := a.run("cat", "/other.txt")
	if code == 0 || !strings.Contains(errs, "other.txt") {
		t.Fatalf("offline cat of a file never fetched: exit %d, %s", code, errs)
	}
	a.ok("unpin", "/docs")
	if out := a.ok("pin"); strings.Contains(out, "/docs") {
		t.Fatalf("still pinned: %s", out)
	}
	a.fails(exitNotExist, "not pinned", "unpin", "/docs")
}
