package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/volume"
)

// progress redraws one status line on a terminal while long work runs:
// files, bytes, rate and time left. It draws nothing when the output is not
// a terminal or --json was given.
type progress struct {
	w     io.Writer
	p     *volume.Progress
	verb  string
	unit  string // what is counted: files, objects
	start time.Time
	done  chan struct{}
	wg    sync.WaitGroup
}

func startProgress(env *Env, a *args, verb string, p *volume.Progress) *progress {
	return startProgressOf(env, a, verb, "files", p)
}

// startProgressOf is startProgress counting unit rather than files.
func startProgressOf(env *Env, a *args, verb, unit string, p *volume.Progress) *progress {
	pr := &progress{w: env.Stderr, p: p, verb: verb, unit: unit, start: env.Now(), done: make(chan struct{})}
	if a.bool("json") || !env.IsTerminal(env.Stderr) {
		return pr
	}
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pr.done:
				pr.draw(true)
				return
			case <-tick.C:
				pr.draw(false)
			}
		}
	}()
	return pr
}

func (pr *progress) stop() {
	close(pr.done)
	pr.wg.Wait()
}

func (pr *progress) draw(final bool) {
	el := time.Since(pr.start).Seconds()
	b, tb := pr.p.Bytes.Load(), pr.p.TotalBytes.Load()
	rate := float64(b) / max(el, 0.001)
	left := "--"
	if rate > 0 && tb > b {
		left = (time.Duration(float64(tb-b)/rate) * time.Second).Round(time.Second).String()
	}
	end := "\r"
	if final {
		end, left = "\n", "0s"
	}
	unit := pr.unit
	fmt.Fprintf(pr.w, "\x1b[2K%s %d/%d %s  %s/%s  %s/s  %s left%s",
		pr.verb, pr.p.Files.Load(), pr.p.TotalFiles.Load(), unit, size(b), size(tb), size(int64(rate)), left, end)
}

// size renders a byte count for people.
func size(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
