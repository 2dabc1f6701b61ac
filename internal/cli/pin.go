package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dvpc/dvpc/internal/cache"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/volume"
)

// cacheDir is where this PC keeps the sealed chunks of a volume it read
// or wrote.
func cacheDir(env *Env, vol string) string {
	return filepath.Join(xdgDir(env, "XDG_CACHE_HOME", ".cache"), "volumes", vol)
}

// openCache opens the login's chunk cache, bounded as configured.
func openCache(env *Env, c *clientConfig) (*cache.Cache, error) {
	dir := cacheDir(env, c.Volume)
	limit := c.CacheSize
	if limit <= 0 {
		limit = cache.DefaultLimit(dir)
	}
	return cache.Open(dir, limit)
}

// runPin keeps files and folders on this PC, available offline: it adds
// them to the pins and fetches what is not cached yet. Without a path it
// lists the pins.
func runPin(ctx context.Context, env *Env, a *args) error {
	asJSON := a.bool("json")
	if err := a.check(0, 1<<20); err != nil {
		return err
	}
	s, err := openReader(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	v := s.vol
	pins, err := v.Pins()
	if err != nil {
		return err
	}
	t := v.Tree()
	for _, p := range a.pos {
		p, err := journal.CleanPath(p)
		if err != nil {
			return errors.E(errors.Invalid, err)
		}
		if t.Lookup(p) == nil {
			return errors.E(errors.NotExist, p, errors.Str("no such file or folder in the volume"))
		}
		if !slices.Contains(pins, p) {
			pins = append(pins, p)
		}
	}
	if len(a.pos) > 0 {
		if err := v.SetPins(pins); err != nil {
			return err
		}
		files, _ := volume.Pinned(t, a.pos)
		prog := &volume.Progress{}
		for _, n := range files {
			prog.TotalFiles.Add(1)
			prog.TotalBytes.Add(int64(n.Size))
		}
		pr := startProgressOf(env, a, "fetching", "files", prog)
		var failed []string
		for _, n := range files {
			if _, err := v.WriteTo(ctx, n, io.Discard); err != nil {
				failed = append(failed, n.Path+": "+message(err))
			}
			prog.Files.Add(1)
			prog.Bytes.Add(int64(n.Size))
		}
		pr.stop()
		if len(failed) > 0 {
			return errors.E(errors.Unavailable, errors.Str(fmt.Sprintf(
				"pinned, but %d files could not be fetched now (they will be when the mirrors are reachable and you pin again):\n  %s",
				len(failed), strings.Join(failed, "\n  "))))
		}
	}
	type pinJSON struct {
		Path  string `json:"path"`
		Files int    `json:"files"`
		Bytes int64  `json:"bytes"`
	}
	var out []pinJSON
	for _, p := range pins {
		files, _ := volume.Pinned(t, []string{p})
		pj := pinJSON{Path: p, Files: len(files)}
		for _, n := range files {
			pj.Bytes += int64(n.Size)
		}
		out = append(out, pj)
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(out)
	}
	for _, p := range out {
		fmt.Fprintf(env.Stdout, "%s\t%d files, %s kept on this PC\n", p.Path, p.Files, size(p.Bytes))
	}
	return nil
}

// runUnpin lets the cache evict what a pin kept.
func runUnpin(ctx context.Context, env *Env, a *args) error {
	if err := a.check(1, 1<<20); err != nil {
		return err
	}
	s, err := openReader(ctx, env, true)
	if err != nil {
		return err
	}
	defer s.close()
	pins, err := s.vol.Pins()
	if err != nil {
		return err
	}
	for _, p := range a.pos {
		p, err := journal.CleanPath(p)
		if err != nil {
			return errors.E(errors.Invalid, err)
		}
		i := slices.Index(pins, p)
		if i < 0 {
			return errors.E(errors.NotExist, p, errors.Str("is not pinned ('dvpc pin' lists the pins)"))
		}
		pins = slices.Delete(pins, i, i+1)
	}
	return s.vol.SetPins(pins)
}
