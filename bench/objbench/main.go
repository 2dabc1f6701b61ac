// Command objbench measures object put/get throughput of a dvpc server and
// of an S3 server on the same machine, and the cost of clients waiting for
// change notifications. bench/server.sh runs it; see bench/README.md.
//
//	objbench -target dvpc -url http://127.0.0.1:7832 -sizes 64KiB,1MiB,16MiB
//	objbench -target s3 -endpoint 127.0.0.1:7070 -bucket bench
//	objbench -target dvpc -url ... -watchers 1000 -server-pid PID
//
// It prints one JSON object per measurement on standard output.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
)

type target interface {
	put(ctx context.Context, name string, data []byte) error
	get(ctx context.Context, name string, buf []byte) (int, error)
}

type dvpcTarget struct{ st *remote.Store }

func (t dvpcTarget) put(ctx context.Context, name string, data []byte) error {
	return t.st.Put(ctx, name, data)
}

func (t dvpcTarget) get(ctx context.Context, name string, buf []byte) (int, error) {
	return t.st.ReadAt(ctx, name, buf, 0)
}

func main() {
	var (
		kind     = flag.String("target", "dvpc", "dvpc or s3")
		url      = flag.String("url", "http://127.0.0.1:7832", "dvpc server URL")
		endpoint = flag.String("endpoint", "127.0.0.1:7070", "S3 endpoint host:port")
		bucket   = flag.String("bucket", "bench", "S3 bucket")
		sizes    = flag.String("sizes", "64KiB,1MiB,16MiB", "object sizes")
		total    = flag.Int64("total", 256<<20, "bytes to write per size")
		workers  = flag.Int("workers", 8, "parallel requests")
		watchers = flag.Int("watchers", 0, "measure this many waiting clients instead")
		pid      = flag.Int("server-pid", 0, "the server's process id, to read its memory")
	)
	flag.Parse()
	ctx := context.Background()
	var t target
	var cl *remote.Client
	switch *kind {
	case "dvpc":
		var err error
		cl, err = signup(ctx, *url)
		check(err)
		t = dvpcTarget{cl.Store()}
	case "s3":
		s, err := newS3(ctx, *endpoint, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), *bucket)
		check(err)
		t = s
	default:
		check(fmt.Errorf("unknown target %q", *kind))
	}
	if *watchers > 0 {
		check(watch(ctx, cl, *watchers, *pid))
		return
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := parseSize(s)
		check(err)
		check(throughput(ctx, t, *kind, s, n, *total, *workers))
	}
}

// signup makes a fresh account on the server and returns its client.
func signup(ctx context.Context, url string) (*remote.Client, error) {
	cl, err := remote.New(url, remote.Options{})
	if err != nil {
		return nil, err
	}
	acct, _, auth := keys.NewAccount([]byte("bench"), nil, keys.TestParams())
	user := "bench" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	_, err = cl.Signup(ctx, &remote.SignupRequest{User: user, Auth: auth[:], Account: acct.Marshal(),
		Device: remote.DeviceRef{ID: dvpc.NewDeviceID().String(), Name: "bench"}})
	return cl, err
}

type result struct {
	Target  string  `json:"target"`
	Size    string  `json:"size"`
	Objects int     `json:"objects"`
	Workers int     `json:"workers"`
	PutMBs  float64 `json:"put_mb_s"`
	GetMBs  float64 `json:"get_mb_s"`
	PutOps  float64 `json:"put_ops_s"`
	GetOps  float64 `json:"get_ops_s"`
}

// throughput writes objects of one size with parallel workers, then reads
// them all back, and reports the rates of both.
func throughput(ctx context.Context, t target, kind, label string, size, total int64, workers int) error {
	count := int(max(total/size, int64(workers)*4))
	data := make([][]byte, min(count, 16))
	for i := range data {
		data[i] = make([]byte, size)
		rand.Read(data[i])
	}
	names := make([]string, count)
	for i := range names {
		// Content-addressed names, like packs: the dvpc server checks them.
		sum := sha256.Sum256(data[i%len(data)])
		names[i] = fmt.Sprintf("volumes/bench/data/%02x/%d-%s", i%256, i, hex.EncodeToString(sum[:]))
	}
	run := func(fn func(i int) error) (time.Duration, error) {
		var next atomic.Int64
		var wg sync.WaitGroup
		var first error
		var mu sync.Mutex
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= count {
						return
					}
					if err := fn(i); err != nil {
						mu.Lock()
						first = err
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start), first
	}
	put, err := run(func(i int) error { return t.put(ctx, names[i], data[i%len(data)]) })
	if err != nil {
		return err
	}
	bufs := sync.Pool{New: func() any { return make([]byte, size) }}
	get, err := run(func(i int) error {
		b := bufs.Get().([]byte)
		defer bufs.Put(b)
		n, err := t.get(ctx, names[i], b)
		if err == nil && int64(n) != size {
			err = fmt.Errorf("%s: read %d bytes, want %d", names[i], n, size)
		}
		return err
	})
	if err != nil {
		return err
	}
	mb := float64(size) * float64(count) / 1e6
	return json.NewEncoder(os.Stdout).Encode(result{Target: kind, Size: label, Objects: count, Workers: workers,
		PutMBs: mb / put.Seconds(), GetMBs: mb / get.Seconds(),
		PutOps: float64(count) / put.Seconds(), GetOps: float64(count) / get.Seconds()})
}

// watch starts n clients waiting for changes under one prefix, reads the
// server's memory once they wait, puts one object, and reports how long
// the last of them took to hear of it.
func watch(ctx context.Context, cl *remote.Client, n, pid int) error {
	const prefix = "volumes/bench/journal/"
	before := rss(pid)
	cur, err := cl.Watch(ctx, prefix, "", 0)
	if err != nil {
		return err
	}
	var ready, heard sync.WaitGroup
	ready.Add(n)
	heard.Add(n)
	var mu sync.Mutex
	var last time.Time
	var failed error
	for range n {
		go func() {
			defer heard.Done()
			ready.Done()
			ch, err := cl.Watch(ctx, prefix, cur.Cursor, 60*time.Second)
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			if err == nil && len(ch.Names) == 0 {
				err = fmt.Errorf("a watch ended with no change")
			}
			if err != nil {
				failed = err
			}
			if now.After(last) {
				last = now
			}
		}()
	}
	ready.Wait()
	// Let the requests reach the server: wait until its memory stops
	// growing (a benchmark, not a test: no ordering depends on this).
	waiting := before
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		r := rss(pid)
		if r > 0 && r == waiting {
			break
		}
		waiting = r
	}
	start := time.Now()
	if err := cl.Store().Put(ctx, prefix+"seg-1", []byte("x")); err != nil {
		return err
	}
	heard.Wait()
	if failed != nil {
		return failed
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"target": "dvpc", "watchers": n,
		"server_rss_before_mib":  float64(before) / (1 << 20),
		"server_rss_waiting_mib": float64(waiting) / (1 << 20),
		"per_watcher_kib":        float64(waiting-before) / float64(n) / 1024,
		"notify_all_ms":          float64(last.Sub(start).Microseconds()) / 1000,
	})
}

// rss returns a process's resident memory in bytes, or 0.
func rss(pid int) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.s) {
			s, mult = strings.TrimSuffix(s, u.s), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "objbench:", err)
		os.Exit(1)
	}
}
