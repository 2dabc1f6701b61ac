package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	t.Cleanup(func() { detach(dir) }) // whatever a failure left
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
	// Changes made in the mount.
	if err := os.WriteFile(filepath.Join(dir, "notes/tomorrow.txt"), []byte("written in the mount\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "notes/today.txt"), filepath.Join(dir, "notes/yesterday.txt")); err != nil {
		t.Fatal(err)
	}
	// Commands that read go on beside the mount; those that change the
	// volume say where to make the change.
	if out := a.ok("ls", "/"); !strings.Contains(out, "notes") {
		t.Fatalf("ls while mounted: %s", out)
	}
	if out := a.ok("status"); !strings.Contains(out, "mounted at "+dir) {
		t.Fatalf("status while mounted: %s", out)
	}
	a.fails(exitConflict, "mounted at "+dir, "mkdir", "/elsewhere")
	// unmount returns once the mount has ended: the volume is free. The
	// folder is named through a link to the one above it, which the
	// mount did not see.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Dir(dir), link); err != nil {
		t.Fatal(err)
	}
	a.ok("unmount", filepath.Join(link, filepath.Base(dir)))
	a.ok("mkdir", "/after-unmount")
	if code := <-exited; code != 0 {
		t.Fatalf("dvpc mount exited %d after unmount", code)
	}
	a.fails(exitUsage, "nothing is mounted", "unmount", dir)
	// Unmounted, the changes are on the mirror: this PC and another see them.
	if out := a.ok("cat", "/notes/tomorrow.txt"); out != "written in the mount\n" {
		t.Fatalf("cat after unmount: %q", out)
	}
	b := newPC(t)
	b.ok("login", mirror)
	if out := b.ok("ls", "/notes"); !strings.Contains(out, "tomorrow.txt") || !strings.Contains(out, "yesterday.txt") || strings.Contains(out, "today.txt") {
		t.Fatalf("the other PC sees: %s", out)
	}
	if out := a.ok("status"); strings.Contains(out, "NOT YET SAFE") {
		t.Fatalf("status after unmount: %s", out)
	}
}

// mountProcess runs dvpc mount DIR for the PC a in a process of its own.
func mountProcess(t *testing.T, a *pc, dir string) (*exec.Cmd, <-chan int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "mount", dir)
	cmd.Env = []string{"DVPC_TEST_RUN_MAIN=1", "HOME=" + a.home, "XDG_RUNTIME_DIR=" + a.env["XDG_RUNTIME_DIR"], "DVPC_PASSPHRASE=" + a.env["DVPC_PASSPHRASE"], "DVPC_TEST_CHEAP_KDF=1"}
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The mount is up when it says so: until then, a dead mount at dir
	// may still answer from the kernel's cache.
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.HasPrefix(line, "Mounted") {
		cmd.Wait()
		t.Fatalf("dvpc mount: %q %s", line, stderr)
	}
	go io.Copy(io.Discard, stdout)
	exited := make(chan int, 1)
	go func() {
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code > 0 {
			t.Logf("dvpc mount: %s", stderr)
		}
		exited <- cmd.ProcessState.ExitCode()
	}()
	t.Cleanup(func() {
		detach(dir)
		cmd.Process.Kill()
	})
	return cmd, exited
}

// kill -9 of a mount after files were closed in it: the next mount cleans
// up the dead one and shows them, and they reach the mirror.
func TestMountCrash(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting without fusermount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	dir := t.TempDir()
	t.Cleanup(func() { detach(dir) })
	cmd, exited := mountProcess(t, a, dir)
	waitMounted(t, dir, exited)
	data := make([]byte, 5<<20)
	rand.NewChaCha8([32]byte{7}).Read(data)
	files := map[string][]byte{"big.bin": data, "docs/a.txt": []byte("closed before the kill\n")}
	if err := os.Mkdir(filepath.Join(dir, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Written, never closed: it may be lost, and must not harm the rest.
	open, err := os.Create(filepath.Join(dir, "open.txt"))
	if err != nil {
		t.Fatal(err)
	}
	open.Write([]byte("never closed"))
	// Heavy writes, killed in the middle: every file whose close returned
	// before the kill must come back whole.
	var mu sync.Mutex
	stop := make(chan struct{})
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		rnd := rand.NewChaCha8([32]byte{8})
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := make([]byte, 100<<10+i)
			rnd.Read(b)
			name := fmt.Sprintf("docs/heavy-%d", i)
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				return
			}
			_, werr := f.Write(b)
			if f.Close() == nil && werr == nil {
				mu.Lock()
				files[name] = b
				mu.Unlock()
			}
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(files)
		mu.Unlock()
		if n >= 12 || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock() // no close is counted from here on
	cmd.Process.Kill()
	<-exited
	close(stop)
	mu.Unlock()
	<-wrote
	open.Close()
	if len(files) < 12 {
		t.Fatalf("only %d files written before the kill", len(files))
	}

	// A process of its own, as a user's next mount is.
	_, exited2 := mountProcess(t, a, dir)
	waitMounted(t, dir, exited2)
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s after the crash: %d bytes, %v", name, len(got), err)
		}
	}
	a.ok("unmount", dir)
	if code := <-exited2; code != 0 {
		t.Fatalf("dvpc mount exited %d", code)
	}
	b := newPC(t)
	b.ok("login", mirror)
	if out := b.ok("cat", "/docs/a.txt"); out != "closed before the kill\n" {
		t.Fatalf("the other PC reads %q", out)
	}
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
	t.Cleanup(func() { detach(dir) })
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

// The mount starts with its server down and works from what this PC has;
// what is written waits on this PC; when the server is back, it goes out
// by itself, while the mount runs, and another PC reads it.
func TestMountOffline(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting without fusermount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	srv := startMirrorServer(t, t.TempDir())
	a := newPC(t)
	a.ok("signup", srv.url(), "olga")
	src := writeFiles(t, map[string]string{"before.txt": "written before the flight\n"})
	a.ok("import", src, "/")
	a.ok("pin", "/before.txt")
	srv.stop() // the plane takes off

	dir := t.TempDir()
	t.Cleanup(func() { detach(dir) })
	exited := make(chan int, 1)
	go func() {
		_, _, code := a.run("mount", dir)
		exited <- code
	}()
	waitMounted(t, dir, exited)
	if got, err := os.ReadFile(filepath.Join(dir, "before.txt")); err != nil || string(got) != "written before the flight\n" {
		t.Fatalf("a pinned file, offline: %q, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flight.txt"), []byte("written in the air\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if out := a.ok("status", "--offline"); strings.Contains(out, "NOT YET SAFE") {
			break // on this PC only, and said so
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never said the change waits: %s", a.ok("status", "--offline"))
		}
	}

	srv.start() // landed
	b := newPC(t)
	b.ok("login", srv.url(), "olga")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _, code := b.run("cat", "/flight.txt")
		if code == 0 && out == "written in the air\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the change written offline did not reach the server within 20 s of its return")
		}
	}
	a.ok("unmount", dir)
	if code := <-exited; code != 0 {
		t.Fatalf("dvpc mount exited %d", code)
	}
}
