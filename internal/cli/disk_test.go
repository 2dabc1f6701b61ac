package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mountSmallDisk mounts a tmpfs of the given size at a new folder, or skips
// the test where that is not allowed (not root, no mount).
func mountSmallDisk(t *testing.T, size string) string {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// A mirror whose disk fills up: the import fails with a clear message and
// a non-zero exit, what was committed stays whole, and once there is room
// the same import finishes.
func TestMirrorDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	disk := mountSmallDisk(t, "3m")
	mirror := filepath.Join(disk, "m")
	a := newPC(t)
	a.ok("init", mirror)
	src, _ := randomTree(t) // 12 files of 4 MiB of random data: far more than 3 MiB
	_, errs, code := a.run("import", src, "/")
	if code != exitIO || !strings.Contains(errs, "disk is full") {
		t.Fatalf("import onto a full disk: exit %d, %q", code, errs)
	}
	a.ok("ls", "/")
	a.ok("check", "--read-data")
	// Make room: move the mirror to a roomy disk, as a user would.
	roomy := filepath.Join(t.TempDir(), "m")
	if out, err := exec.Command("cp", "-a", mirror, roomy).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v %s", err, out)
	}
	cfg := filepath.Join(a.home, ".config", "dvpc", "config.json")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(b), mirror, roomy, 1)), 0o600)
	a.ok("import", src, "/")
	a.ok("check", "--read-data")
	if n := strings.Count(a.ok("find", "/"), "/file"); n != 12 {
		t.Fatalf("after the retry, %d of 12 files", n)
	}
}

// A server whose disk fills up: the client is told, keeps the change on
// this PC, and delivers it by itself once the server has room; nothing it
// had acknowledged is lost.
func TestServerDiskFullQueues(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	disk := mountSmallDisk(t, "8m")
	srv := startServer(t, filepath.Join(disk, "data"))
	a := newPC(t)
	a.ok("signup", srv.URL(), "dora")
	a.ok("put", writeFiles(t, map[string]string{"small": "before"})+"/small", "/small")
	filler := filepath.Join(disk, "filler")
	if out, err := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=1M", "count=16").CombinedOutput(); err == nil {
		t.Fatalf("the filler fit on an 8 MiB disk: %s", out)
	}
	big := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(big, randomish(3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := a.run("put", big, "/big")
	if code != 0 || !strings.Contains(errs, "kept on this PC only") || !strings.Contains(errs, "disk") {
		t.Fatalf("put onto a server with a full disk: exit %d, %q", code, errs)
	}
	if got := a.ok("cat", "/small"); got != "before" {
		t.Fatalf("what was acknowledged before the disk filled: %q", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	a.ok("status") // the next command delivers what waits
	b := newPC(t)
	b.ok("login", srv.URL(), "dora")
	if got := b.ok("cat", "/big"); got != string(randomish(3<<20)) {
		t.Fatalf("another PC reads %d bytes of /big once the server had room", len(got))
	}
}
