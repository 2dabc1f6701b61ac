package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/blob/s3"
	"github.com/dvpc/dvpc/internal/server"
)

// mirrorServer is a dvpc server on a loopback port that a test can stop
// and start again on the same address and data folder.
type mirrorServer struct {
	t      *testing.T
	data   string
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// startMirrorServer starts a server on data; it is stopped when t ends.
func startMirrorServer(t *testing.T, data string) *mirrorServer {
	t.Helper()
	s := &mirrorServer{t: t, data: data, addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(func() {
		if s.cancel != nil {
			s.stop()
		}
	})
	return s
}

func (s *mirrorServer) url() string { return "http://" + s.addr }

// start serves again, on the address of the first start.
func (s *mirrorServer) start() {
	s.t.Helper()
	srv, err := server.New(server.Config{Listen: s.addr, Data: s.data, Signup: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = strings.TrimPrefix(srv.URL(), "http://")
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	go func() { s.done <- srv.Serve(ctx) }()
}

// stop stops the server and returns once it no longer listens.
func (s *mirrorServer) stop() {
	s.t.Helper()
	s.cancel()
	s.cancel = nil
	if err := <-s.done; err != nil {
		s.t.Errorf("server: %v", err)
	}
}

// accountDir is the folder of the server's only account: a folder store
// an operator can check.
func (s *mirrorServer) accountDir() string {
	s.t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.data, "accounts"))
	if err != nil || len(ents) != 1 {
		s.t.Fatalf("server accounts: %v, %v", ents, err)
	}
	return filepath.Join(s.data, "accounts", ents[0].Name())
}

// The credentials of the test S3 server's root user.
const (
	s3Access = "dvpc-test-access"
	s3Secret = "dvpc-test-secret-key"
	s3Bucket = "dvpc-test"
)

// s3Server is a versitygw serving a folder on 127.0.0.1, which a test can
// stop and start again on the same port and folder.
type s3Server struct {
	t      *testing.T
	bin    string
	root   string
	addr   string
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan struct{}
}

// versitygwBin returns the path of the versitygw binary, or skips t.
func versitygwBin(t *testing.T) string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
			p := filepath.Join(d, "bin", "versitygw")
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Skip("versitygw not found on PATH or in $(go env GOPATH)/bin: " +
		"go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 to run the mirror tests with S3")
	return ""
}

// startS3 starts versitygw with the bucket s3Bucket; it is stopped when t
// ends.
func startS3(t *testing.T) *s3Server {
	t.Helper()
	s := &s3Server{t: t, bin: versitygwBin(t), root: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l.Close()
	s.start()
	t.Cleanup(func() {
		if s.cmd != nil {
			s.stop()
		}
	})
	if err := s3.CreateBucket(t.Context(), s3.Config{Endpoint: s.addr, Bucket: s3Bucket, AccessKey: s3Access, SecretKey: s3Secret}); err != nil {
		t.Fatalf("make bucket: %v\n%s", err, s.out)
	}
	return s
}

// location is the s3:// location of prefix in the test bucket.
func (s *s3Server) location(prefix string) string {
	return "s3://" + s.addr + "/" + s3Bucket + "/" + prefix
}

// start starts versitygw and returns once it accepts connections.
func (s *s3Server) start() {
	s.t.Helper()
	s.out = new(bytes.Buffer)
	s.cmd = exec.Command(s.bin, "--port", s.addr, "--quiet", "posix", s.root)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s3Access, "ROOT_SECRET_KEY="+s3Secret)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) { cmd.Wait(); close(exited) }(s.cmd, s.exited)
	deadline := time.Now().Add(20 * time.Second)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			s.t.Fatalf("versitygw exited before listening on %s:\n%s", s.addr, s.out)
		case <-time.After(wait): // polling a port another process opens: no event to wait on
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not listen on %s within 20s:\n%s", s.addr, s.out)
		}
	}
}

// stop kills versitygw and returns once it has exited.
func (s *s3Server) stop() {
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// open opens the test bucket under prefix as a blob store.
func (s *s3Server) open(t *testing.T, prefix string) blob.Store {
	t.Helper()
	cfg, err := s3.Parse(s.location(prefix))
	if err != nil {
		t.Fatal(err)
	}
	cfg.AccessKey, cfg.SecretKey = s3Access, s3Secret
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := s3.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s: %v\n%s", s.location(prefix), err, s.out)
	}
	return st
}

// withS3 gives the PC the credentials of the test S3 server.
func (p *pc) withS3() *pc {
	p.env["AWS_ACCESS_KEY_ID"], p.env["AWS_SECRET_ACCESS_KEY"] = s3Access, s3Secret
	return p
}

// objectsOf returns every object of a store with the SHA-256 of its bytes.
func objectsOf(t *testing.T, st blob.Store) map[string][32]byte {
	t.Helper()
	ctx := t.Context()
	out := map[string][32]byte{}
	var names []string
	if err := st.List(ctx, "", func(i blob.Info) error {
		names = append(names, i.Name)
		return nil
	}); err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, n := range names {
		b, err := st.Get(ctx, n, 0, -1)
		if err != nil {
			t.Fatalf("get %s: %v", n, err)
		}
		out[n] = sha256.Sum256(b)
	}
	return out
}

// folderObjects returns every object of a folder mirror with its hash.
func folderObjects(t *testing.T, root string) map[string][32]byte {
	t.Helper()
	st, err := dir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	return objectsOf(t, st)
}

// sameObjects fails t unless every store named in sets holds exactly the
// objects, with the same bytes, that the first does.
func sameObjects(t *testing.T, sets map[string]map[string][32]byte) {
	t.Helper()
	var names []string
	for n := range sets {
		names = append(names, n)
	}
	sort.Strings(names)
	ref := sets[names[0]]
	if len(ref) == 0 {
		t.Fatalf("%s holds no objects", names[0])
	}
	for _, n := range names[1:] {
		got := sets[n]
		var diff []string
		for o, h := range ref {
			if g, ok := got[o]; !ok {
				diff = append(diff, "missing on "+n+": "+o)
			} else if g != h {
				diff = append(diff, "differs on "+n+": "+o)
			}
		}
		for o := range got {
			if _, ok := ref[o]; !ok {
				diff = append(diff, "missing on "+names[0]+": "+o)
			}
		}
		if len(diff) > 0 {
			sort.Strings(diff)
			t.Fatalf("%s and %s differ (%d objects vs %d):\n%s", names[0], n, len(ref), len(got), strings.Join(diff, "\n"))
		}
	}
}

// away renames a folder mirror away, as if its drive were unplugged; back
// plugs it in again.
func away(t *testing.T, path string) {
	t.Helper()
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
}

func back(t *testing.T, path string) {
	t.Helper()
	if err := os.Rename(path+".away", path); err != nil {
		t.Fatal(err)
	}
}

// cutProxy forwards TCP connections to a server. Armed, it cuts every
// connection once it has passed a number of bytes towards the server,
// and from then on refuses all until healed: a server that dies in the
// middle of an upload, at a point the test chooses.
type cutProxy struct {
	ln      net.Listener
	backend string

	mu    sync.Mutex
	left  int64 // bytes towards the server before the cut; <0: not armed
	cut   bool
	conns map[net.Conn]bool
	done  chan struct{} // closed at the cut
}

func startCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend, left: -1, conns: map[net.Conn]bool{}}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-stopped
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

// arm makes the proxy cut after n more bytes towards the server; the
// channel returned is closed at the cut.
func (p *cutProxy) arm(n int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.left, p.done = n, make(chan struct{})
	return p.done
}

// heal lets connections through again.
func (p *cutProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut, p.left = false, -1
}

func (p *cutProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *cutProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *cutProxy) serve(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	defer p.untrack(c)
	s, err := net.Dial("tcp", p.backend)
	if err != nil || !p.track(s) {
		if s != nil {
			s.Close()
		}
		c.Close()
		return
	}
	defer p.untrack(s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(c, s)
		c.Close()
	}()
	buf := make([]byte, 16<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			n = p.pass(n)
			if _, werr := s.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil || n == 0 {
			break
		}
	}
	s.Close()
	c.Close()
	wg.Wait()
}

// pass returns how many of n bytes may pass towards the server; once the
// armed count is reached, it cuts every connection.
func (p *cutProxy) pass(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return 0
	}
	if p.left < 0 {
		return n
	}
	if int64(n) < p.left {
		p.left -= int64(n)
		return n
	}
	n = int(p.left)
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	close(p.done)
	return n
}
