// Command dvpc keeps a person's files in encrypted, versioned volumes on
// mirrors. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/dvpc/dvpc/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// DVPC_CPUPROFILE=FILE writes a CPU profile, for performance work.
	if p := os.Getenv("DVPC_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	code := cli.Main(ctx, os.Args[1:], cli.OSEnv())
	stop()
	pprof.StopCPUProfile()
	os.Exit(code)
}
