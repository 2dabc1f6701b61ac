// Command dvpc keeps a person's files in encrypted, versioned volumes on
// mirrors. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/dvpc/dvpc/internal/cli"
)

// memoryLimit is the default soft memory limit. The runtime lets a program
// that needs more go past it (the collector's CPU use is capped), so it
// costs speed, never a crash.
const memoryLimit = 80 << 20

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
	// import of a large tree then stays under 100 MiB. The drive and the
	// server run for days with programs waiting on each answer: they keep
	// the runtime's default (a heap up to twice what is live), which on a
	// mount of a git clone made the collector's share of the CPU fall from
	// half to a tenth. GOMEMLIMIT overrides.
	if os.Getenv("GOMEMLIMIT") == "" && !cli.Serves(os.Args[1:]) {
		debug.SetMemoryLimit(memoryLimit)
	}
	code := cli.Main(ctx, os.Args[1:], cli.OSEnv())
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
