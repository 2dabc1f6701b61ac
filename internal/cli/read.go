package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/volume"
)

// treeAt returns the current tree, or the tree at --at.
func treeAt(ctx context.Context, env *Env, v *volume.Volume, at string) (*volume.Tree, error) {
	if at == "" {
		return v.Tree(), nil
	}
	when, err := parseWhen(at, env.Now())
	if err != nil {
		return nil, err
	}
	return v.TreeAt(ctx, when)
}

// lookupAt returns the tree (now, or at --at) and the node at a path given
// by the user, or a NotExist error naming the path.
func lookupAt(ctx context.Context, env *Env, v *volume.Volume, at, arg string) (*volume.Tree, *volume.Node, error) {
	t, err := treeAt(ctx, env, v, at)
	if err != nil {
		return nil, nil, err
	}
	p, err := journal.CleanPath(arg)
	if err != nil {
		return nil, nil, err
	}
	n := t.Lookup(p)
	if n == nil && at != "" {
		return nil, nil, errors.E(errors.NotExist, p, errors.Str("did not exist at "+at))
	}
	if n == nil {
		return nil, nil, errors.E(errors.NotExist, p)
	}
	return t, n, nil
}

// entryJSON is how --json shows a node.
type entryJSON struct {
	Path    string    `json:"path"`
	Type    string    `json:"type"`
	Size    uint64    `json:"size"`
	Mode    string    `json:"mode"`
	ModTime time.Time `json:"mtime"`
	Target  string    `json:"target,omitempty"`
	Device  string    `json:"device,omitempty"`
	Time    time.Time `json:"time,omitzero"`
}

func nodeJSON(v *volume.Volume, n *volume.Node) entryJSON {
	e := entryJSON{Path: n.Path, Type: kind(n), Size: n.Size, Mode: fmt.Sprintf("%04o", n.Mode), Target: n.Target}
	if n.MTime != 0 {
		e.ModTime = time.Unix(0, n.MTime).UTC()
	}
	if n.Time != 0 {
		e.Time = n.Time.Time().UTC()
		e.Device = v.DeviceName(n.Device)
	}
	return e
}

func kind(n *volume.Node) string {
	switch n.Op {
	case journal.Mkdir:
		return "dir"
	case journal.Symlink:
		return "symlink"
	case journal.Delete:
		return "deleted"
	}
	return "file"
}

func modeString(n *volume.Node) string {
	m := fs.FileMode(n.Mode & 0o777)
	switch n.Op {
	case journal.Mkdir:
		m |= fs.ModeDir
	case journal.Symlink:
		m |= fs.ModeSymlink
	}
	return m.String()
}

func runLs(ctx context.Context, env *Env, a *args) error {
	at, asJSON := a.flag("at"), a.bool("json")
	if err := a.check(0, 1); err != nil {
		return err
	}
	return withReader(ctx, env, a, func(v *volume.Volume) error {
		t, n, err := lookupAt(ctx, env, v, at, a.arg(0, "/"))
		if err != nil {
			return err
		}
		p := n.Path
		list := []*volume.Node{n}
		if n.IsDir() {
			list = t.List(p)
		}
		w := bufio.NewWriter(env.Stdout)
		defer w.Flush()
		if asJSON {
			out := make([]entryJSON, 0, len(list))
			for _, n := range list {
				out = append(out, nodeJSON(v, n))
			}
			return json.NewEncoder(w).Encode(out)
		}
		for _, n := range list {
			name := n.Path
			if n.Path != p {
				name = path.Base(n.Path)
			}
			if n.Op == journal.Symlink {
				name += " -> " + n.Target
			}
			when := "                " // a folder implied by what it holds has no time
			if n.MTime != 0 {
				when = time.Unix(0, n.MTime).Format("2006-01-02 15:04")
			}
			fmt.Fprintf(w, "%s %12d %s %s\n", modeString(n), n.Size, when, name)
		}
		return nil
	})
}

func runCat(ctx context.Context, env *Env, a *args) error {
	at := a.flag("at")
	if err := a.check(1, 1); err != nil {
		return err
	}
	return withReader(ctx, env, a, func(v *volume.Volume) error {
		_, n, err := lookupAt(ctx, env, v, at, a.arg(0, ""))
		if err != nil {
			return err
		}
		p := n.Path
		switch {
		case n.IsDir():
			return errors.E(errors.IsDir, p, errors.Str("is a folder: use 'dvpc ls'"))
		case n.Op == journal.Symlink:
			return errors.E(errors.Invalid, p, errors.Str("is a symbolic link to "+n.Target))
		}
		w := bufio.NewWriterSize(env.Stdout, 1<<20)
		if _, err := v.WriteTo(ctx, n, w); err != nil {
			return err
		}
		return w.Flush()
	})
}

func runFind(ctx context.Context, env *Env, a *args) error {
	at, asJSON := a.flag("at"), a.bool("json")
	if err := a.check(0, 1); err != nil {
		return err
	}
	return withReader(ctx, env, a, func(v *volume.Volume) error {
		t, n, err := lookupAt(ctx, env, v, at, a.arg(0, "/"))
		if err != nil {
			return err
		}
		p := n.Path
		w := bufio.NewWriter(env.Stdout)
		defer w.Flush()
		enc := json.NewEncoder(w)
		return t.Walk(p, func(n *volume.Node) error {
			if asJSON {
				return enc.Encode(nodeJSON(v, n))
			}
			_, err := fmt.Fprintln(w, n.Path)
			return err
		})
	})
}

func runHistory(ctx context.Context, env *Env, a *args) error {
	asJSON := a.bool("json")
	if err := a.check(1, 1); err != nil {
		return err
	}
	return withReader(ctx, env, a, func(v *volume.Volume) error {
		vs, err := v.Versions(ctx, a.arg(0, ""))
		if err != nil {
			return err
		}
		w := bufio.NewWriter(env.Stdout)
		defer w.Flush()
		if asJSON {
			out := make([]entryJSON, 0, len(vs))
			for _, n := range vs {
				out = append(out, nodeJSON(v, n))
			}
			return json.NewEncoder(w).Encode(out)
		}
		for _, n := range vs {
			fmt.Fprintf(w, "%s  %-7s %12d  %-12s %s\n", n.Time.Time().Local().Format("2006-01-02 15:04:05.000"),
				kind(n), n.Size, v.DeviceName(n.Device), n.Path)
		}
		return nil
	})
}
