package s3

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The credentials of the test server's root user.
const (
	testAccess = "dvpc-test-access"
	testSecret = "dvpc-test-secret-key"
	testBucket = "dvpc-test"
)

// testServer is a versitygw serving a temporary folder on 127.0.0.1.
type testServer struct {
	addr string
	cmd  *exec.Cmd
	out  *bytes.Buffer
}

// versitygw returns the path of the versitygw binary, or skips t.
func versitygw(t *testing.T) string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
			p := filepath.Join(dir, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("versitygw not found on PATH or in $(go env GOPATH)/bin: " +
		"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 to run the s3 tests")
	return ""
}

// startServer starts versitygw with a bucket testBucket, and stops it when
// t ends.
func startServer(t *testing.T) *testServer {
	t.Helper()
	bin := versitygw(t)
	root := t.TempDir()
	addr := freeAddr(t)
	srv := &testServer{addr: addr, out: new(bytes.Buffer)}
	srv.cmd = exec.Command(bin, "--port", addr, "--quiet", "posix", root)
	srv.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+testAccess, "ROOT_SECRET_KEY="+testSecret)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.out, srv.out
	if err := srv.cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { srv.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		srv.cmd.Process.Kill()
		<-exited
	})
	waitListening(t, addr, exited, srv.out)
	if err := CreateBucket(t.Context(), srv.config("")); err != nil {
		t.Fatalf("make bucket: %v\n%s", err, srv.out)
	}
	return srv
}

// freeAddr returns an address on 127.0.0.1 that nothing listens on now.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening polls addr until it accepts a connection, the server
// exits, or 20 seconds pass.
func waitListening(t *testing.T, addr string, exited <-chan struct{}, out *bytes.Buffer) {
	deadline := time.Now().Add(20 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			t.Fatalf("versitygw exited before listening on %s:\n%s", addr, out)
		case <-time.After(wait):
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s within 20s:\n%s", addr, out)
		}
	}
}

// config returns the Config of the test bucket under prefix.
func (srv *testServer) config(prefix string) Config {
	c, err := Parse("s3://" + srv.addr + "/" + testBucket + "/" + prefix)
	if err != nil {
		panic(err)
	}
	c.AccessKey, c.SecretKey = testAccess, testSecret
	return c
}

// open opens the test bucket under prefix.
func (srv *testServer) open(t *testing.T, prefix string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, srv.config(prefix))
	if err != nil {
		t.Fatalf("Open: %v\n%s", err, srv.out)
	}
	return s
}

// prefixes hands out a fresh prefix for each store of a test.
type prefixes struct{ n int }

func (p *prefixes) next() string { p.n++; return "t" + strconv.Itoa(p.n) }
