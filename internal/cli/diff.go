package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/volume"
)

// maxDiff bounds the files diff compares, in bytes and lines.
const maxDiff = 4 << 20

func runDiff(ctx context.Context, env *Env, a *args) error {
	from, to := a.flag("from"), a.flag("to")
	if err := a.check(1, 1); err != nil {
		return err
	}
	if from == "" {
		return usagef("diff needs --from TIME (and optionally --to TIME, default now)")
	}
	return withReader(ctx, env, a, func(v *volume.Volume) error {
		p, err := journal.CleanPath(a.arg(0, ""))
		if err != nil {
			return err
		}
		old, err := fileAt(ctx, env, v, p, from)
		if err != nil {
			return err
		}
		cur, err := fileAt(ctx, env, v, p, to)
		if err != nil {
			return err
		}
		writeDiff(env, p, from, to, old, cur)
		return nil
	})
}

// fileAt returns a file's content at a moment ("" is now; a missing file
// is empty).
func fileAt(ctx context.Context, env *Env, v *volume.Volume, p, at string) ([]byte, error) {
	t, err := treeAt(ctx, env, v, at)
	if err != nil {
		return nil, err
	}
	n := t.Lookup(p)
	if n == nil {
		return nil, nil
	}
	if n.Op != journal.Put {
		return nil, errors.E(errors.Invalid, p, errors.Str("is not a file"))
	}
	if n.Size > maxDiff {
		return nil, errors.E(errors.Invalid, p, errors.Str("is too large to diff"))
	}
	var buf bytes.Buffer
	_, err = v.WriteTo(ctx, n, &buf)
	if bytes.IndexByte(buf.Bytes(), 0) >= 0 {
		return nil, errors.E(errors.Invalid, p, errors.Str("is not a text file"))
	}
	return buf.Bytes(), err
}

// writeDiff prints a line diff (longest common subsequence; files are
// bounded by maxDiff).
func writeDiff(env *Env, p, from, to string, a, b []byte) {
	if to == "" {
		to = "now"
	}
	x, y := lines(a), lines(b)
	if len(x)*len(y) > 25_000_000 {
		fmt.Fprintf(env.Stdout, "--- %s @ %s\n+++ %s @ %s\n(files differ; too many lines to diff)\n", p, from, p, to)
		return
	}
	// lcs[i][j] is the LCS length of x[i:] and y[j:].
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	fmt.Fprintf(env.Stdout, "--- %s @ %s\n+++ %s @ %s\n", p, from, p, to)
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			fmt.Fprintf(env.Stdout, "+%s\n", y[j])
			j++
		default:
			fmt.Fprintf(env.Stdout, "-%s\n", x[i])
			i++
		}
	}
}

func lines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
