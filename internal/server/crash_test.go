package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for `dvpc serve`, so that crash
// tests can kill a real server process.
func TestMain(m *testing.M) {
	if data := os.Getenv("DVPC_TEST_SERVE"); data != "" {
		os.Exit(serveForTest(data))
	}
	os.Exit(m.Run())
}

// serveForTest serves data on 127.0.0.1 with sign-up open, and prints its
// URL on the first line of standard output.
func serveForTest(data string) int {
	s, err := New(Config{Listen: "127.0.0.1:0", Data: data, Signup: true,
		Log: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(s.URL())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := s.Serve(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// selfChecking returns bytes that say whether they are whole: a length, a
// body, and the SHA-256 of both.
func selfChecking(r *rand.Rand, n int) []byte {
	b := make([]byte, 8+n, 8+n+32)
	binary.BigEndian.PutUint64(b, uint64(n))
	for i := 8; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

func whole(b []byte) bool {
	if len(b) < 40 || binary.BigEndian.Uint64(b) != uint64(len(b)-40) {
		return false
	}
	sum := sha256.Sum256(b[:len(b)-32])
	return bytes.Equal(sum[:], b[len(b)-32:])
}

// A server killed with SIGKILL in the middle of uploads: after a restart,
// every acknowledged object is there and whole, nothing partial or
// temporary is listed or can be read, and the usage is right.
func TestKill9DuringUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	data := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DVPC_TEST_SERVE="+data)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the server process did not start: %v\n%s", err, stderr.String())
	}
	child := &testServer{t: t, url: strings.TrimSpace(url), client: &http.Client{Timeout: time.Minute}}
	u := child.signup("alice")

	var mu sync.Mutex
	acked := map[string][]byte{} // name → sha256 of what was acknowledged
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := selfChecking(r, 1+r.IntN(600<<10))
				name := hashed("volumes/v/data/", body)
				if i%3 == 0 {
					name = fmt.Sprintf("volumes/v/mutable/%d", w) // replaced in place
				}
				req, _ := http.NewRequest("PUT", child.url+"/v1/o/"+name, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+u.token)
				resp, err := child.client.Do(req)
				if err != nil {
					continue // the server was killed
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					sum := sha256.Sum256(body)
					mu.Lock()
					acked[name] = sum[:]
					mu.Unlock()
					n.Add(1)
				}
			}
		})
	}
	for n.Load() < 40 {
		time.Sleep(time.Millisecond) // polling progress, not synchronising
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	wg.Wait()

	ts := start(t, Config{Data: data})
	u.ts = ts
	if !strings.Contains(ts.logs.String(), "recounting used bytes") {
		t.Fatal("the restart did not notice the crash")
	}
	// Every acknowledged object is whole. A mutable name holds a whole
	// object, maybe a later put's that was not acknowledged.
	for name, sum := range acked {
		r := u.get(name)
		got := sha256.Sum256(r.body)
		if r.status != 200 || !whole(r.body) || !strings.Contains(name, "mutable") && !bytes.Equal(got[:], sum) {
			t.Fatalf("acknowledged %s after the crash: %d, %d bytes", name, r.status, len(r.body))
		}
	}
	// Everything listed is whole and readable; nothing temporary shows.
	var total int64
	listed := u.list("")
	for _, o := range listed.Objects {
		total += o.Size
		if o.Name == "account" {
			continue
		}
		r := u.get(o.Name)
		if r.status != 200 || !whole(r.body) || int64(len(r.body)) != o.Size {
			t.Fatalf("listed %s after the crash: %d, %d bytes", o.Name, r.status, len(r.body))
		}
		if sum, ok := hashedSum(o.Name); ok && sum != sha256.Sum256(r.body) {
			t.Fatalf("listed %s does not hash to its name", o.Name)
		}
	}
	if len(listed.Objects) < len(acked)+1 {
		t.Fatalf("%d objects listed, %d acknowledged", len(listed.Objects), len(acked))
	}
	if used := u.info().Used; used != total {
		t.Fatalf("used %d after the crash, the objects hold %d", used, total)
	}
	t.Logf("%d puts acknowledged before the kill, %d objects after", n.Load(), len(listed.Objects))
}

// hashedSum returns the SHA-256 a name promises, if any.
func hashedSum(name string) ([32]byte, bool) {
	var sum [32]byte
	i := strings.LastIndexByte(name, '/')
	if len(name)-i-1 != 64 {
		return sum, false
	}
	_, err := fmt.Sscanf(name[i+1:], "%x", &sum)
	return sum, err == nil
}
