package volume

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/pack"
)

// putFile stores a file of the given content at p.
func putFile(t *testing.T, v *Volume, p string, data []byte) {
	t.Helper()
	dir := writeTree(t, map[string][]byte{"f": data})
	if err := v.PutFile(context.Background(), filepath.Join(dir, "f"), p); err != nil {
		t.Fatal(err)
	}
}

// newObjects returns the names under prefix in the volume that are not in
// before.
func newObjects(t *testing.T, s blob.Store, prefix string, before map[string]bool) []string {
	t.Helper()
	var out []string
	err := s.List(context.Background(), prefix, func(i blob.Info) error {
		if !before[i.Name] {
			out = append(out, i.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func objectSet(t *testing.T, s blob.Store) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, n := range newObjects(t, s, "", nil) {
		m[n] = true
	}
	return m
}

// After a device is revoked and the keys rotated, what the other devices
// write is sealed under a generation the revoked device lacks: the old key
// does not open it, the revoked device cannot read it, while the remaining
// devices (without the passphrase) and a new login (with it) read old and
// new data alike.
func TestRotateAfterRevoke(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	a := NewTest(t, root, "a", nil)
	b := OpenTest(t, root, a.Cfg, a.Key, "b", nil)
	x := OpenTest(t, root, a.Cfg, a.Key, "x", nil)
	old := randomBytes(300<<10, 1)
	putFile(t, a.Volume, "/old.bin", old)

	if _, err := a.Revoke(ctx, x.Me().ID); err != nil {
		t.Fatal(err)
	}
	master, err := Unlock(ctx, root, a.Passphrase, nil)
	if err != nil {
		t.Fatal(err)
	}
	rot, err := a.Rotate(ctx, master)
	if err != nil {
		t.Fatal(err)
	}
	var shared []string
	for _, d := range rot.Shared {
		shared = append(shared, d.Name)
	}
	if rot.Gen != 2 || strings.Join(shared, ",") != "a,b" && strings.Join(shared, ",") != "b,a" {
		t.Fatalf("rotation to generation %d shared with %v, want 2 and a, b", rot.Gen, shared)
	}

	// b never sees the passphrase: it takes its share on Sync and writes
	// with the new generation.
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if g := b.Generation(); g != 2 {
		t.Fatalf("b holds generation %d after sync, want 2", g)
	}
	vol := blob.Sub(root, volumePrefix(a.Cfg.ID))
	before := objectSet(t, vol)
	fresh := randomBytes(300<<10, 2)
	putFile(t, b, "/new.bin", fresh)
	oldKeys := keys.ForVolume(a.Key)
	checkSealedAgainst(t, vol, before, oldKeys, b)

	// a, the rotating device, reads b's new data; so does b its own after
	// a restart from its local state only.
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, a.Volume, "/new.bin"); !bytes.Equal(got, fresh) {
		t.Fatal("a reads other bytes than b wrote")
	}
	b2, err := Open(ctx, root, &Config{ID: a.Cfg.ID, Chunk: a.Cfg.Chunk}, a.Key, b.Me(), Options{StateDir: b.stateDir})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, b2, "/old.bin"), old) || !bytes.Equal(readFile(t, b2, "/new.bin"), fresh) {
		t.Fatal("b reopened does not read old and new data")
	}

	// A new login has only the passphrase: the config gives it every
	// generation, and Register gives Open (with the volume key alone) the
	// rest through key shares.
	cb, err := root.Get(ctx, volumePrefix(a.Cfg.ID)+ConfigObject, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, vk, err := ParseConfig(master, cb)
	if err != nil {
		t.Fatal(err)
	}
	if vk != a.Key || len(cfg.Wrapped) != 2 {
		t.Fatalf("config holds %d generations", len(cfg.Wrapped))
	}
	id := NewIdentity("c")
	if err := Register(ctx, root, cfg, vk, id, a.now()); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, root, &Config{ID: cfg.ID, Chunk: cfg.Chunk}, vk, id, Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, c, "/old.bin"), old) || !bytes.Equal(readFile(t, c, "/new.bin"), fresh) {
		t.Fatal("a new login does not read old and new data")
	}
	putFile(t, c, "/c.txt", []byte("from c"))
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, b, "/c.txt"); string(got) != "from c" {
		t.Fatalf("b reads %q from the new login", got)
	}

	// The revoked device, with full mirror access, cannot read the new
	// data: it has no share, and the old key opens nothing new.
	err = x.Sync(ctx)
	if !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), "key generation 2") {
		t.Fatalf("revoked device syncs: %v, want a Permission error naming generation 2", err)
	}
	if _, err := Open(ctx, root, &Config{ID: a.Cfg.ID, Chunk: a.Cfg.Chunk}, a.Key, x.Me(), Options{}); !errors.Is(err, errors.Permission) {
		t.Fatalf("revoked device opens the volume afresh: %v, want Permission", err)
	}
	if x.Tree().Lookup("/new.bin") != nil {
		t.Fatal("the revoked device learnt of the new file")
	}
}

// checkSealedAgainst opens the objects that w wrote since before with the
// old generation's keys: none may open, while w's generation 2 opens each.
func checkSealedAgainst(t *testing.T, vol blob.Store, before map[string]bool, old *keys.Volume, w *Volume) {
	t.Helper()
	ctx := context.Background()
	g2, err := w.gen(2)
	if err != nil {
		t.Fatal(err)
	}
	pub := w.Me().Key.Public().(ed25519.PublicKey)
	var packs, segs, idx int
	for _, name := range newObjects(t, vol, "", before) {
		b, err := vol.Get(ctx, name, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if g := dvpc.Gen(b); g != 2 {
			t.Errorf("%s is sealed under generation %d, want 2", name, g)
		}
		switch {
		case strings.HasPrefix(name, "data/"):
			packs++
			if _, err := pack.ParseHeader(old.Meta, b, int64(len(b))); err == nil {
				t.Errorf("%s: the old meta key opens the new pack's header", name)
			}
			es, err := pack.ParseHeader(g2.keys.Meta, b, int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				sealed := b[e.Offset : e.Offset+e.Length]
				if _, err := pack.NewCodec(old).Open(nil, e.ID, bytes.Clone(sealed)); err == nil {
					t.Errorf("%s: the old data key opens chunk %s", name, e.ID)
				}
				if _, err := g2.codec.Open(nil, e.ID, bytes.Clone(sealed)); err != nil {
					t.Errorf("%s: generation 2 does not open chunk %s: %v", name, e.ID, err)
				}
			}
		case strings.HasPrefix(name, "journal/"):
			segs++
			if _, err := journal.Parse(old.Meta, pub, b); err == nil {
				t.Errorf("%s: the old meta key opens the new segment", name)
			}
			if _, err := journal.Parse(g2.keys.Meta, pub, b); err != nil {
				t.Errorf("%s: generation 2 does not open the new segment: %v", name, err)
			}
		case strings.HasPrefix(name, "index/"):
			idx++
			if _, err := pack.ParseIndex(old.Meta, b); err == nil {
				t.Errorf("%s: the old meta key opens the new index", name)
			}
			if _, err := pack.ParseIndex(g2.keys.Meta, b); err != nil {
				t.Errorf("%s: generation 2 does not open the new index: %v", name, err)
			}
		}
	}
	if packs == 0 || segs == 0 || idx == 0 {
		t.Fatalf("the write made %d packs, %d segments, %d indexes", packs, segs, idx)
	}
}
