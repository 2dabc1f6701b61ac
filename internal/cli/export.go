package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/volume"
)

func runExport(ctx context.Context, env *Env, a *args) error {
	at, src := a.flag("at"), a.flag("path")
	if err := a.check(1, 1); err != nil {
		return err
	}
	if src == "" {
		src = "/"
	}
	dst, err := filepath.Abs(a.arg(0, ""))
	if err != nil {
		return errors.E(errors.Invalid, err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return errors.E(errors.IO, dst, err)
	}
	return withReader(ctx, env, a, func(v *volume.Volume) error {
		t, err := treeAt(ctx, env, v, at)
		if err != nil {
			return err
		}
		p := &volume.Progress{}
		pr := startProgress(env, a, "export", p)
		err = v.Export(ctx, t, src, dst, p)
		pr.stop()
		if err != nil {
			return err
		}
		if a.bool("json") {
			return json.NewEncoder(env.Stdout).Encode(map[string]any{"files": p.Files.Load(), "bytes": p.Bytes.Load()})
		}
		fmt.Fprintf(env.Stdout, "exported %d files, %s to %s\n", p.Files.Load(), size(p.Bytes.Load()), dst)
		return nil
	})
}

func runCheck(ctx context.Context, env *Env, a *args) error {
	readData := a.bool("read-data")
	removeForged := a.bool("remove-forged")
	repair := a.bool("repair")
	locs := a.flag("mirrors")
	quorum := a.flag("quorum")
	if err := a.check(0, 0); err != nil {
		return err
	}
	if locs != "" {
		return checkMirrors(ctx, env, a, locs, quorum, repair, readData)
	}
	s, err := open(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	s.report = !repair // a check without --repair changes no mirror
	// First the mirrors against each other: what one lacks or holds
	// damaged, a read through the set never shows.
	var setErr error
	if len(s.cfg.mirrors()) > 1 {
		rep, err := checkSet(ctx, env, a, s.set, repair, readData)
		if err != nil {
			return err
		}
		s.synced = repair
		setErr = setProblems(rep, repair)
	} else if repair {
		fmt.Fprintln(env.Stderr, "dvpc: the volume has one mirror: there is no other copy to repair from ('dvpc mirror add' adds one)")
	}
	err = func(v *volume.Volume) error {
		if removeForged {
			gone, err := v.RemoveRefused(ctx)
			for _, name := range gone {
				fmt.Fprintf(env.Stdout, "removed forged %s\n", name)
			}
			if err != nil {
				return err
			}
		}
		p := &volume.Progress{}
		pr := startProgress(env, a, "check", p)
		res, err := v.Check(ctx, readData, p)
		pr.stop()
		if err != nil {
			return err
		}
		if a.bool("json") {
			type prob struct {
				Object   string   `json:"object"`
				Error    string   `json:"error"`
				Affected []string `json:"affected"`
			}
			probs := []prob{}
			for _, pb := range res.Problems {
				probs = append(probs, prob{pb.Object, pb.Err.Error(), pb.Affected})
			}
			json.NewEncoder(env.Stdout).Encode(map[string]any{"packs": res.Packs, "chunks": res.Chunks,
				"segments": res.Segments, "indexes": res.Indexes, "bytes": res.Bytes, "problems": probs})
		} else {
			fmt.Fprintf(env.Stdout, "checked %d packs (%s, %d chunks), %d journal segments, %d index objects\n",
				res.Packs, size(res.Bytes), res.Chunks, res.Segments, res.Indexes)
			for _, pb := range res.Problems {
				fmt.Fprintf(env.Stdout, "PROBLEM %s: %v\n", pb.Object, pb.Err)
				for _, f := range pb.Affected {
					fmt.Fprintf(env.Stdout, "  affects %s\n", f)
				}
			}
		}
		if len(res.Problems) > 0 {
			return errors.E(errors.Corrupt, errors.Str(fmt.Sprintf("%d problems found; the files listed need repair from another mirror", len(res.Problems))))
		}
		if setErr != nil {
			return setErr
		}
		if !a.bool("json") {
			fmt.Fprintln(env.Stdout, "no problems found")
		}
		return nil
	}(s.vol)
	return err
}

func runStatus(ctx context.Context, env *Env, a *args) error {
	if err := a.check(0, 0); err != nil {
		return err
	}
	s, err := openReader(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	files, bytes := 0, uint64(0)
	s.vol.Tree().Walk("/", func(n *volume.Node) error {
		if !n.IsDir() {
			files++
			bytes += n.Size
		}
		return nil
	})
	st := map[string]any{"mirror": s.cfg.Mirror, "volume": s.cfg.VolumeName, "volume_id": s.cfg.Volume,
		"device": s.cfg.DeviceName, "device_id": s.cfg.Device, "files": files, "bytes": bytes,
		"devices": len(s.vol.Devices()), "changes": s.vol.Known()}
	account := ""
	if isURL(s.cfg.Mirror) && !a.bool("offline") {
		// What the server counts for the whole account: every volume, and
		// every version kept.
		if cl, err := configClient(s.cfg); err == nil {
			if acct, err := cl.Account(ctx); err == nil {
				st["user"], st["used"], st["quota"], st["totp"] = acct.User, acct.Used, acct.Quota, acct.TOTP
				quota := "no quota"
				if acct.Quota > 0 {
					quota = "quota " + size(acct.Quota)
				}
				account = fmt.Sprintf("account %s: %s stored on the server, %s\n", acct.User, size(acct.Used), quota)
			} else {
				return serverError(err, s.cfg.Mirror, s.cfg.User)
			}
		}
	}
	views := mirrorViews(ctx, s)
	unsafe := unsafeChanges(s.set, s.cfg)
	st["mirrors"], st["quorum"], st["unsafe_segments"] = views, s.set.Quorum(), unsafe
	staged := stagedBytes(s.stageDir())
	st["mounted"], st["staged_bytes"] = s.mounted, staged
	pins, _ := s.vol.Pins()
	pinned, _ := volume.Pinned(s.vol.Tree(), pins)
	var pinnedBytes int64
	for _, n := range pinned {
		pinnedBytes += int64(n.Size)
	}
	cacheLine := "cache   none (it could not be opened)\n"
	if s.cache != nil {
		st["cache_used"], st["cache_limit"] = s.cache.Used(), s.cache.Limit()
		cacheLine = fmt.Sprintf("cache   %s of %s on this PC; %d pinned paths keep %s available offline\n",
			size(s.cache.Used()), size(s.cache.Limit()), len(pins), size(pinnedBytes))
	}
	st["pins"], st["pinned_bytes"] = pins, pinnedBytes
	if a.bool("json") {
		return json.NewEncoder(env.Stdout).Encode(st)
	}
	fmt.Fprintf(env.Stdout, "volume  %s (%s)\ndevice  %s (%s)\nfiles   %d, %s\nhistory %d changes from %d devices\n%s",
		s.cfg.VolumeName, s.cfg.Volume, s.cfg.DeviceName, s.cfg.Device, files, size(int64(bytes)), st["changes"], st["devices"], account)
	fmt.Fprintf(env.Stdout, "mirrors %d; a change is safe once %d hold it, fully replicated once all do\n", len(views), s.set.Quorum())
	printMirrorLines(env.Stdout, views)
	fmt.Fprint(env.Stdout, cacheLine)
	if s.mounted != "" {
		fmt.Fprintf(env.Stdout, "mounted %s\n", s.mounted)
	}
	switch {
	case staged > 0:
		fmt.Fprintf(env.Stdout, "NOT YET SAFE: %s of changes made in the mount are on this PC only; the mount sends them to the mirrors\n", size(staged))
	case unsafe > 0:
		fmt.Fprintf(env.Stdout, "NOT YET SAFE: %d journal segments of your changes are on this PC only, waiting for the mirrors\n", unsafe)
	default:
		queued := 0
		for _, n := range s.set.Queued() {
			queued += n
		}
		if queued > 0 {
			fmt.Fprintf(env.Stdout, "all your changes are safe; %d copies wait to make them fully replicated\n", queued)
		} else {
			fmt.Fprintln(env.Stdout, "all your changes are safe")
		}
	}
	return nil
}

// stagedBytes is the size of the stage in dir: changes made in a mount,
// durable on this PC, not yet committed to the mirrors.
func stagedBytes(dir string) int64 {
	es, _ := os.ReadDir(dir)
	var n int64
	for _, e := range es {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".log") {
			n += fi.Size()
		}
	}
	return n
}
