package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// freeAddr returns a loopback address that nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// up runs 'dvpc up DIR ARGS' for p in the background until it has
// mounted dir, and returns what it prints and its exit code once it ends:
// at 'dvpc unmount DIR', or when ctx ends, as Ctrl-C ends it.
func (p *pc) up(ctx context.Context, t *testing.T, dir string, args ...string) <-chan upResult {
	t.Helper()
	ended := make(chan upResult, 1)
	exited := make(chan int, 1)
	go func() {
		var out, errs bytes.Buffer
		env := p.environ()
		env.Stdin, env.Stdout, env.Stderr = strings.NewReader(""), &out, &errs
		env.IsTerminal = func(io.Writer) bool { return false }
		code := Main(ctx, append([]string{"up", dir}, args...), env)
		exited <- code
		ended <- upResult{out.String(), errs.String(), code}
	}()
	waitMounted(t, dir, exited)
	return ended
}

type upResult struct {
	out, errs string
	code      int
}

// A fresh PC: 'dvpc up' runs its own server, makes the account and the
// volume, and mounts the drive; after an unmount, a second 'dvpc up'
// starts the same server again and the drive shows what was written.
func TestUp(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting without fusermount needs root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	addr := freeAddr(t)
	a := newPC(t)
	dir := filepath.Join(t.TempDir(), "drive") // missing: up makes it
	t.Cleanup(func() { detach(dir) })

	first := a.up(context.Background(), t, dir, "--listen", addr)
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("written in the drive\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.ok("unmount", dir)
	res := upEnded(t, first)
	if !strings.Contains(res.out, "Created the account me") || !strings.Contains(res.out, "Your drive is at "+dir) {
		t.Fatalf("dvpc up said:\n%s%s", res.out, res.errs)
	}
	// The server stopped with the mount: its address is free again. Held
	// by another program, up says so.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the server still holds %s: %v", addr, err)
	}
	a.fails(exitUnavailable, addr+", where this PC's server answers, is taken", "up", dir)
	ln.Close()

	// Configured: up starts the server again and mounts, on the address
	// the login names.
	a.fails(exitUsage, "cannot move", "up", dir, "--listen", freeAddr(t))
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	second := a.up(ctx, t, dir, "--listen", addr)
	a.fails(exitUnavailable, "running already", "up", t.TempDir())
	if got, err := os.ReadFile(filepath.Join(dir, "hello.txt")); err != nil || string(got) != "written in the drive\n" {
		t.Fatalf("the second up shows %q, %v", got, err)
	}
	// The server answers, with the data: another PC logs in to it.
	b := newPC(t)
	b.ok("login", "http://"+addr, "me")
	if out := b.ok("cat", "/hello.txt"); out != "written in the drive\n" {
		t.Fatalf("the other PC reads %q", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "bye.txt"), []byte("written before Ctrl-C\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	interrupt() // Ctrl-C
	if res := upEnded(t, second); strings.Contains(res.out, "Created") {
		t.Fatalf("the second up set up again:\n%s", res.out)
	}

	// A PC with no login whose server already has the account (the same
	// data folder, say after a logout) logs in to it. It sees what the
	// interrupted mount wrote: the server stopped only after the mount
	// had sent it.
	c := newPC(t)
	c.env["XDG_DATA_HOME"] = filepath.Join(a.home, ".local/share")
	dir2 := t.TempDir()
	t.Cleanup(func() { detach(dir2) })
	third := c.up(context.Background(), t, dir2, "--listen", addr)
	for name, want := range map[string]string{"hello.txt": "written in the drive\n", "bye.txt": "written before Ctrl-C\n"} {
		if got, err := os.ReadFile(filepath.Join(dir2, name)); err != nil || string(got) != want {
			t.Fatalf("up on an existing account shows %s: %q, %v", name, got, err)
		}
	}
	c.ok("unmount", dir2)
	if res := upEnded(t, third); !strings.Contains(res.out, "Logged in") {
		t.Fatalf("up on an existing account said:\n%s", res.out)
	}
}

// upEnded waits for 'dvpc up' to end and checks that it exited 0.
func upEnded(t *testing.T, r <-chan upResult) upResult {
	t.Helper()
	res := <-r
	if res.code != 0 {
		t.Fatalf("dvpc up exited %d\n%s%s", res.code, res.out, res.errs)
	}
	return res
}

// 'dvpc up' that cannot start says why, and leaves no login and no server
// data behind.
func TestUpFails(t *testing.T) {
	a := newPC(t)
	dir := filepath.Join(t.TempDir(), "drive")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	a.fails(exitUnavailable, "choose a free address for this PC's server with --listen", "up", dir, "--listen", taken.Addr().String())
	a.fails(exitUsage, "loopback", "up", dir, "--listen", "0.0.0.0:7707")
	file := filepath.Join(writeFiles(t, map[string]string{"f": "x"}), "f")
	a.fails(exitUsage, "not a folder", "up", file, "--listen", freeAddr(t))
	if _, err := os.Stat("/dev/fuse"); err == nil {
		// Refused by the server once it runs: it stops, and what it made goes.
		a.fails(exitUsage, "user names hold only", "up", dir, "--listen", freeAddr(t), "--user", "Not A Name")
	}
	for _, p := range []string{configPath(a.environ()), upRecordPath(a.environ()), serverDataDir(a.environ()), dir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left behind (%v)", p, err)
		}
	}
	a.fails(exitNotExist, "not logged in", "ls")
}
