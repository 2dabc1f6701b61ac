package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/volume"
)

func runImport(ctx context.Context, env *Env, a *args) error {
	if err := a.check(1, 2); err != nil {
		return err
	}
	s, err := open(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	// Temporary files of writers killed an hour or more ago are garbage.
	for _, st := range s.stores {
		if d, ok := st.(*dir.Store); ok {
			d.Sweep(time.Hour)
		}
	}
	p := &volume.Progress{}
	pr := startProgress(env, a, "import", p)
	res, err := s.vol.Import(ctx, a.arg(0, ""), a.arg(1, "/"), p)
	pr.stop()
	if err != nil {
		if ctx.Err() != nil {
			return errors.E(errors.Other, errors.Str("interrupted: what was committed is safe; run the same import again to finish"))
		}
		return err
	}
	for _, e := range res.Skipped {
		fmt.Fprintf(env.Stderr, "dvpc import: skipped: %v\n", e)
	}
	if a.bool("json") {
		json.NewEncoder(env.Stdout).Encode(map[string]any{
			"changed": res.Changed, "unchanged": res.Unchanged, "skipped": len(res.Skipped),
			"bytes": p.Bytes.Load(), "stored": p.Stored.Load()})
	} else {
		fmt.Fprintf(env.Stdout, "imported %d changed, %d unchanged; read %s, stored %s\n",
			res.Changed, res.Unchanged, size(p.Bytes.Load()), size(p.Stored.Load()))
	}
	if len(res.Skipped) > 0 {
		return errors.E(errors.IO, errors.Str(fmt.Sprintf("%d items could not be imported (listed above); the rest is stored", len(res.Skipped))))
	}
	return nil
}

// withReader runs fn, which only reads, on the open volume: beside a
// mount, if one holds it.
func withReader(ctx context.Context, env *Env, a *args, fn func(v *volume.Volume) error) error {
	s, err := openReader(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	return fn(s.vol)
}

// withVolume runs fn on the open volume.
func withVolume(ctx context.Context, env *Env, a *args, fn func(v *volume.Volume) error) error {
	s, err := open(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	return fn(s.vol)
}

func runPut(ctx context.Context, env *Env, a *args) error {
	if err := a.check(2, 2); err != nil {
		return err
	}
	return withVolume(ctx, env, a, func(v *volume.Volume) error { return v.PutFile(ctx, a.arg(0, ""), a.arg(1, "")) })
}

func runMkdir(ctx context.Context, env *Env, a *args) error {
	if err := a.check(1, 1); err != nil {
		return err
	}
	return withVolume(ctx, env, a, func(v *volume.Volume) error { return v.Mkdir(ctx, a.arg(0, ""), 0o755) })
}

func runMv(ctx context.Context, env *Env, a *args) error {
	if err := a.check(2, 2); err != nil {
		return err
	}
	return withVolume(ctx, env, a, func(v *volume.Volume) error { return v.Move(ctx, a.arg(0, ""), a.arg(1, "")) })
}

func runRm(ctx context.Context, env *Env, a *args) error {
	rec := a.bool("r", "recursive")
	if err := a.check(1, 1); err != nil {
		return err
	}
	return withVolume(ctx, env, a, func(v *volume.Volume) error { return v.Remove(ctx, a.arg(0, ""), rec) })
}

func runChmod(ctx context.Context, env *Env, a *args) error {
	if err := a.check(2, 2); err != nil {
		return err
	}
	mode, err := strconv.ParseUint(a.arg(0, ""), 8, 32)
	if err != nil || mode > 0o7777 {
		return usagef("MODE must be octal permission bits, like 644 or 0755")
	}
	return withVolume(ctx, env, a, func(v *volume.Volume) error { return v.Chmod(ctx, a.arg(1, ""), uint32(mode)) })
}

func runRestore(ctx context.Context, env *Env, a *args) error {
	at := a.flag("at")
	if err := a.check(1, 1); err != nil {
		return err
	}
	if at == "" {
		return usagef("restore needs --at TIME")
	}
	when, err := parseWhen(at, env.Now())
	if err != nil {
		return err
	}
	return withVolume(ctx, env, a, func(v *volume.Volume) error {
		n, err := v.Restore(ctx, a.arg(0, ""), when)
		if err == nil {
			fmt.Fprintf(env.Stdout, "restored %d items as of %s\n", n, when.Format("2006-01-02 15:04:05 MST"))
		}
		return err
	})
}
