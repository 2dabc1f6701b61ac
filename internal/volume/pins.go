package volume

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
)

// The pins are the paths this PC keeps available offline: the file "pins"
// in the state directory, the common header (kind 8) and seal(local, the
// paths joined by newlines, ad = "dvpc pins" || volume id). Sealed, since
// the names are the user's.
const pinsFile = "pins"

func (v *Volume) pinsAD() []byte { return append([]byte("dvpc pins"), v.cfg.ID[:]...) }

// Pins returns the pinned paths, sorted.
func (v *Volume) Pins() ([]string, error) {
	const op errors.Op = "volume.Pins"
	if v.stateDir == "" {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(v.stateDir, pinsFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, errors.E(op, errors.IO, err)
	}
	body, err := dvpc.ParseHeader(b, dvpc.KindLocal)
	if err == nil {
		body, err = v.keys.Local.Open(nil, body, v.pinsAD())
	}
	if err != nil {
		return nil, errors.E(op, errors.Corrupt, filepath.Join(v.stateDir, pinsFile), err)
	}
	if len(body) == 0 {
		return nil, nil
	}
	return strings.Split(string(body), "\n"), nil
}

// SetPins sets the pinned paths.
func (v *Volume) SetPins(paths []string) error {
	if v.stateDir == "" {
		return errors.E(errors.Op("volume.SetPins"), errors.Invalid, errors.Str("this volume keeps no state on this PC"))
	}
	paths = append([]string(nil), paths...)
	sort.Strings(paths)
	b := dvpc.AppendHeader(nil, dvpc.KindLocal)
	b = v.keys.Local.Seal(b, []byte(strings.Join(paths, "\n")), v.pinsAD())
	if err := writeFileAtomic(filepath.Join(v.stateDir, pinsFile), b); err != nil {
		return errors.E(errors.Op("volume.SetPins"), errors.IO, err)
	}
	return nil
}

// Pinned returns the files of t under the pinned paths, and the chunks of
// their content.
func Pinned(t *Tree, pins []string) ([]*Node, map[dvpc.ChunkID]bool) {
	var files []*Node
	chunks := map[dvpc.ChunkID]bool{}
	seen := map[string]bool{}
	for _, p := range pins {
		t.Walk(p, func(n *Node) error {
			if n.Op != journal.Put || seen[n.Path] {
				return nil
			}
			seen[n.Path] = true
			files = append(files, n)
			for _, c := range n.Chunks {
				chunks[c.ID] = true
			}
			return nil
		})
	}
	return files, chunks
}
