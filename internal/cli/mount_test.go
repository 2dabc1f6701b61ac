package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitMounted waits until dir shows the mount's control folder, or the
// mount command has ended (its exit code then says why).
func waitMounted(t *testing.T, dir string, exited <-chan int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-exited:
			t.Fatalf("dvpc mount ended with exit %d before mounting", code)
		default:
		}
		if _, err := os.Stat(filepath.Join(dir, ".dvpc")); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling for a condition, not timing
	}
	t.Fatal("the mount did not appear in 10 s")
}

// dvpc mount shows the volume; other commands work while it is mounted;
// dvpc unmount ends it and the mount command returns 0.
func TestMountCommand(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting without fusermount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	src := writeFiles(t, map[string]string{"notes/today.txt": "hello from the mount\n"})
	a.ok("import", src, "/")
	dir := t.TempDir()
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) }) // whatever a failure left
	a.fails(exitNotExist, "logged in to the volume", "mount", "other-volume", dir)
	a.fails(exitNotExist, "does not exist", "mount", filepath.Join(dir, "missing"))

	exited := make(chan int, 1)
	go func() {
		_, _, code := a.run("mount", dir)
		exited <- code
	}()
	waitMounted(t, dir, exited)
	if got, err := os.ReadFile(filepath.Join(dir, "notes/today.txt")); err != nil || string(got) != "hello from the mount\n" {
		t.Fatalf("read through the mount: %q, %v", got, err)
	}
	// The mount does not hold the volume: commands go on meanwhile.
	if out := a.ok("ls", "/notes"); !strings.Contains(out, "today.txt") {
		t.Fatalf("ls while mounted: %s", out)
	}
	a.ok("unmount", dir)
	if code := <-exited; code != 0 {
		t.Fatalf("dvpc mount exited %d after unmount", code)
	}
	a.fails(exitUsage, "nothing is mounted", "unmount", dir)
}

// A change saved on another PC shows in this PC's mount by itself, the
// server telling the mount that something was written.
func TestMountFollowsOtherPC(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting without fusermount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	srv := startServer(t, t.TempDir())
	a, b := newPC(t), newPC(t)
	a.ok("signup", srv.URL(), "erin")
	b.ok("login", srv.URL(), "erin")
	dir := t.TempDir()
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	exited := make(chan int, 1)
	go func() {
		_, _, code := a.run("mount", dir)
		exited <- code
	}()
	waitMounted(t, dir, exited)
	start := time.Now()
	b.ok("put", writeFiles(t, map[string]string{"n": "from the other PC\n"})+"/n", "/note.txt")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got, err := os.ReadFile(filepath.Join(dir, "note.txt")); err == nil && string(got) == "from the other PC\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other PC's change did not show in the mount within 10 s")
		}
	}
	t.Logf("the other PC's change showed after %v", time.Since(start).Round(time.Millisecond))
	a.ok("unmount", dir)
	if code := <-exited; code != 0 {
		t.Fatalf("dvpc mount exited %d", code)
	}
}
