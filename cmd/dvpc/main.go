// Command dvpc keeps a person's files in encrypted, versioned volumes on
// mirrors. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/dvpc/dvpc/internal/cli"
)

// memoryLimit is the default soft memory limit. The runtime lets a program
// that needs more go past it (the collector's CPU use is capped), so it
// costs speed, never a crash. A command that ends collects only when its
// heap reaches the limit, so the limit is its peak: an import of the bench
// corpus, whose live heap is about 30 MiB (most of it the buffers of the
// chunks being sealed), peaks at 80 MiB of resident memory with 64 (the
// binary's pages and the C compressor's 3 MB come on top), and collects
// five or six times.
const memoryLimit = 64 << 20

// serveMemoryLimit is the floor of the soft limit of a long-running
// process: a mount, a server.
const serveMemoryLimit = 256 << 20

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// DVPC_CPUPROFILE=FILE writes a CPU profile, for performance work.
	if p := os.Getenv("DVPC_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	// A soft memory limit keeps the garbage collector's slack small: an
	// import of a large tree then stays under 100 MiB, and paceMemory
	// raises the limit when more than that is live. The drive and the
	// server run for days with programs waiting on each answer: their
	// floor is 256 MiB, under which they keep the runtime's default (a
	// heap up to twice what is live); an 80 MiB limit on a mount of a git
	// clone made the collector take half the CPU. A command that ends is
	// paced by the limit alone (no GOGC): one that needs less than the
	// floor, a cat or an ls, then spends nothing on collecting a heap it
	// is about to drop (a fifth of its time, with GOGC's default); above
	// the floor, the limit was already the tighter pace. GOMEMLIMIT
	// overrides.
	if os.Getenv("GOMEMLIMIT") == "" {
		floor, slack := int64(memoryLimit), func(live int64) int64 { return live/4 + 8<<20 }
		if cli.Serves(os.Args[1:]) {
			floor, slack = serveMemoryLimit, func(live int64) int64 { return live/2 + 16<<20 }
		} else if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(-1)
		}
		debug.SetMemoryLimit(floor)
		paceMemory(floor, slack)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		if n := runtime.GOMAXPROCS(0); procs(os.Args[1:], n) != n {
			runtime.GOMAXPROCS(procs(os.Args[1:], n))
		}
	}
	env := cli.OSEnv()
	// Only where the heap will grow: making the space costs a collection,
	// 5–6 ms here, a fifth of a command that opens no volume (a check
	// --mirrors that repairs, a version). A server opens none.
	huge := hugeHeapSize(os.Args[1:])
	env.BeforeOpen = sync.OnceFunc(func() { hugeHeap(huge) })
	code := cli.Main(ctx, os.Args[1:], env)
	stop()
	pprof.StopCPUProfile()
	// DVPC_MEMPROFILE=FILE writes a heap profile at the end.
	if p := os.Getenv("DVPC_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}

// procs is how many goroutines run at once (GOMAXPROCS) in the command
// argv, where the runtime's own choice is n, the CPUs it may use. A
// mount's gets one more. Its answers to the kernel come back from reading
// the FUSE device on a thread that needs one of them to go on; with all
// of them sealing a writer's chunks or filling the cache, the request
// waited for one to finish its chunk, and so did the writer. One more
// than the CPUs lets the kernel's scheduler run it at once. A dd of 500
// MB of new data into a mount, eight rounds alternating: 0.58–0.65 s
// (median 0.64) → 0.57–0.68 s (median 0.59); with the cut off the
// writer's path (dirty.cutter) 0.54–0.59 s. Setting it stops the
// runtime from following a change of the process's CPU limit while it
// runs; a mount started again follows the new one.
func procs(argv []string, n int) int {
	if len(argv) > 0 && (argv[0] == "mount" || argv[0] == "up") {
		return n + 1
	}
	return n
}

// hugeHeapSize is how much of the heap hugeHeap asks huge pages for, for
// the command argv.
func hugeHeapSize(argv []string) uintptr {
	switch {
	case cli.Serves(argv):
		return mountHugeHeapBytes
	case len(argv) > 0 && argv[0] == "export":
		return exportHugeHeapBytes
	}
	return hugeHeapBytes
}

// paceMemory raises the soft memory limit with what is live: to that plus
// slack(live), and never below floor. A fixed limit under the live heap
// (a volume of a million files keeps several hundred MB of tree and
// index) makes the collector run without pause, at half the CPU; this
// keeps the slack a share of the live heap instead, where the runtime's
// default would let the heap grow to twice what is live. A command's slack
// is a quarter; a mount's or a server's is a half.
//
// The limit is set again after each collection, when what is live has
// just been measured. Set every 250 ms instead, it trailed a heap that
// grows fast: a login to a volume of a million files collected 57 times,
// 20 of them in its first 0.2 s while Argon2id held its 64 MiB, at the
// floor.
func paceMemory(floor int64, slack func(live int64) int64) (stop func()) {
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	return afterGC(func() {
		metrics.Read(live)
		if live[0].Value.Kind() == metrics.KindUint64 {
			n := int64(live[0].Value.Uint64())
			debug.SetMemoryLimit(max(floor, n+slack(n)))
		}
	})
}

// afterGC calls fn after every collection until stop is called, from the
// runtime's cleanup goroutine: the cleanup of an object dropped at once
// runs after the collection that finds it unreachable, and arms the next.
func afterGC(fn func()) (stop func()) {
	type sentinel struct {
		_ *byte // holds a pointer: a tiny allocation might never be freed alone
		_ [8]byte
	}
	var stopped atomic.Bool
	var arm func()
	arm = func() {
		runtime.AddCleanup(&sentinel{}, func(struct{}) {
			if !stopped.Load() {
				arm() // first: a sentinel made during the next marking would outlive it
				fn()
			}
		}, struct{}{})
	}
	arm()
	return func() { stopped.Store(true) }
}
