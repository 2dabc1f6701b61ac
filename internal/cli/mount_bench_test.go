package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// BenchmarkMountToMount measures how long a small file saved in one PC's
// mount takes to show in another PC's mount, both online, with a server
// on loopback: the flush, the server's notification, the other mount's
// refresh. It reports the median. Run as root:
//
//	go test -run XXX -bench MountToMount -benchtime 20x ./internal/cli
func BenchmarkMountToMount(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("mounting without fusermount needs root")
	}
	srv := startServer(b, b.TempDir())
	a, c := newPC(b), newPC(b)
	a.ok("signup", srv.URL(), "bench")
	c.ok("login", srv.URL(), "bench")
	dirA, dirC := b.TempDir(), b.TempDir()
	for _, m := range []struct {
		p   *pc
		dir string
	}{{a, dirA}, {c, dirC}} {
		b.Cleanup(func() { detach(m.dir) })
		exited := make(chan int, 1)
		go func() {
			_, _, code := m.p.run("mount", m.dir)
			exited <- code
		}()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(m.dir, ".dvpc")); err == nil {
				break
			}
			select {
			case code := <-exited:
				b.Fatalf("dvpc mount ended with exit %d", code)
			default:
			}
			if time.Now().After(deadline) {
				b.Fatal("the mount did not appear")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("note-%d.txt", i)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(dirA, name), []byte("a small change\n"), 0o644); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(dirC, name)); err == nil {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("%s did not show on the other PC in 30 s", name)
			}
			time.Sleep(2 * time.Millisecond)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "ms-median")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "ms-max")
	a.ok("unmount", dirA)
	c.ok("unmount", dirC)
}
