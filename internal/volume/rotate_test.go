package volume

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	b2, err := Open(ctx, root, &Config{ID: a.Cfg.ID, Chunk: a.Cfg.Chunk, Account: a.Cfg.Account}, a.Key, b.Me(), Options{StateDir: b.stateDir})
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
	c, err := Open(ctx, root, &Config{ID: cfg.ID, Chunk: cfg.Chunk, Account: cfg.Account}, vk, id, Options{StateDir: t.TempDir()})
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
	if _, err := Open(ctx, root, &Config{ID: a.Cfg.ID, Chunk: a.Cfg.Chunk, Account: a.Cfg.Account}, a.Key, x.Me(), Options{}); !errors.Is(err, errors.Permission) {
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

// plantSleeper writes what a thief of a device holding only the volume key
// can: a record of a new device whose keys the thief controls, sealed with
// the volume's meta key and signed with sign (not the account's key), and
// a journal segment of that device. It returns the device's identity.
func plantSleeper(t *testing.T, root blob.Store, cfg *Config, vk keys.Key, sign ed25519.PrivateKey) Identity {
	t.Helper()
	ctx := context.Background()
	id := NewIdentity("sleeper")
	d := &Device{ID: id.ID, Name: id.Name, Public: id.Key.Public().(ed25519.PublicKey),
		X25519: keys.DeviceX25519(id.Key).PublicKey().Bytes(), Created: time.Now()}
	d.Sign(cfg.ID, sign)
	meta := keys.ForVolume(vk).Meta
	prefix := volumePrefix(cfg.ID)
	if err := root.Put(ctx, prefix+"devices/"+id.ID.String(), d.Marshal(meta, 1)); err != nil {
		t.Fatal(err)
	}
	seg := &journal.Segment{Device: id.ID, Seq: 1, Entries: []journal.Entry{
		{Time: journal.MakeHLC(time.Now()), Op: journal.Mkdir, Path: "/planted", Mode: 0o755}}}
	b := seg.Marshal(meta, 1, id.Key)
	if err := root.Put(ctx, prefix+journal.Name(id.ID, 1, dvpc.Hash(b)), b); err != nil {
		t.Fatal(err)
	}
	return id
}

// A thief of a device holds the volume key, and with it can seal a device
// record; but only the account, that is the master key, signs one. A record
// signed by any other key (a random one, or the stolen device's own) is
// refused by Sync and check, and the rotation that follows the revocation
// shares the new generation with no such device.
func TestSleeperDeviceRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		sign func(x *Volume) ed25519.PrivateKey
	}{
		{"random key", func(*Volume) ed25519.PrivateKey { return NewIdentity("k").Key }},
		{"another device's key", func(x *Volume) ed25519.PrivateKey { return x.Me().Key }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := mem.New()
			a := NewTest(t, root, "a", nil)
			b := OpenTest(t, root, a.Cfg, a.Key, "b", nil)
			x := OpenTest(t, root, a.Cfg, a.Key, "x", nil) // the stolen laptop
			sleeper := plantSleeper(t, root, a.Cfg, a.Key, tc.sign(x))

			// The planted record is ignored, named, and work goes on.
			if err := a.Sync(ctx); err != nil {
				t.Fatalf("Sync with a planted record: %v", err)
			}
			wantSleeperNamed(t, a.Volume, sleeper)
			for _, d := range a.Devices() {
				if d.ID == sleeper.ID {
					t.Fatal("the sleeper is a device of the volume")
				}
			}
			if a.Tree().Lookup("/planted") != nil {
				t.Fatal("the sleeper's journal was read")
			}
			fresh, err := Open(ctx, root, &Config{ID: a.Cfg.ID, Chunk: a.Cfg.Chunk, Account: a.Cfg.Account}, a.Key, b.Me(), Options{})
			if err != nil {
				t.Fatalf("Open with a planted record: %v", err)
			}
			wantSleeperNamed(t, fresh, sleeper)
			if fresh.Tree().Lookup("/planted") != nil {
				t.Fatal("a fresh open read the sleeper's journal")
			}
			res, err := a.Check(ctx, false, &Progress{})
			if err != nil {
				t.Fatal(err)
			}
			var named bool
			for _, p := range res.Problems {
				named = named || p.Object == "devices/"+sleeper.ID.String() && errors.Is(p.Err, errors.Corrupt)
			}
			if !named {
				t.Fatalf("check reports %v, want the sleeper's record", res.Problems)
			}

			// The owner revokes the stolen device and rotates: the new
			// generation goes to a and b only, never to the sleeper.
			master, err := Unlock(ctx, root, a.Passphrase, nil)
			if err != nil {
				t.Fatal(err)
			}
			vol := blob.Sub(root, volumePrefix(a.Cfg.ID))
			if _, err := a.Revoke(ctx, x.Me().ID); err != nil {
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
			if len(shared) != 2 || !slices.Contains(shared, "a") || !slices.Contains(shared, "b") {
				t.Fatalf("rotation shared with %v, want a and b", shared)
			}
			for _, name := range newObjects(t, vol, "keys/", nil) {
				if strings.HasSuffix(name, sleeper.ID.String()) || strings.HasSuffix(name, x.Me().ID.String()) {
					t.Fatalf("key share %s for the sleeper or the revoked device", name)
				}
			}
			// RemoveRefused deletes the planted record and its journal.
			gone, err := a.RemoveRefused(ctx)
			if err != nil || len(gone) != 2 {
				t.Fatalf("RemoveRefused = %v, %v; want the record and its segment", gone, err)
			}
			for _, name := range newObjects(t, vol, "", nil) {
				if strings.Contains(name, sleeper.ID.String()) {
					t.Fatalf("%s is still on the mirror", name)
				}
			}
			if len(a.Refused()) != 0 {
				t.Fatalf("still refused: %v", a.Refused())
			}
		})
	}
}

// wantSleeperNamed checks that v ignores the sleeper's record and names it.
func wantSleeperNamed(t *testing.T, v *Volume, sleeper Identity) {
	t.Helper()
	errs := v.Refused()
	if len(errs) != 1 || !errors.Is(errs[0], errors.Corrupt) || !strings.Contains(errs[0].Error(), "devices/"+sleeper.ID.String()) {
		t.Fatalf("refused records: %v, want the sleeper's, as corrupt", errs)
	}
}

// A device record is signed for one volume: a record of this account's
// other volume, copied here, is refused.
func TestDeviceRecordBoundToVolume(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	a := NewTest(t, root, "a", nil)
	master, err := Unlock(ctx, root, a.Passphrase, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, vk, err := CreateVolume(ctx, root, master, "other", a.Cfg.Chunk, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id := NewIdentity("elsewhere")
	if err := Register(ctx, root, other, vk, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	rec, err := root.Get(ctx, volumePrefix(other.ID)+"devices/"+id.ID.String(), 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDevice(keys.ForVolume(vk).Meta, rec)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Verify(other.ID, a.Cfg.Account) || d.Verify(a.Cfg.ID, a.Cfg.Account) {
		t.Fatal("a record verifies for another volume, or not for its own")
	}
	// Re-sealed with this volume's key (as a holder of both keys could),
	// the account's signature still names the other volume.
	if err := root.Put(ctx, volumePrefix(a.Cfg.ID)+"devices/"+id.ID.String(), d.Marshal(keys.ForVolume(a.Key).Meta, 1)); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	wantSleeperNamed(t, a.Volume, id)
}

// Only a config opened with the master key registers a device, and a
// volume is opened only knowing the account's public key.
func TestRegisterNeedsMasterKey(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	a := NewTest(t, root, "a", nil)
	bare := &Config{ID: a.Cfg.ID, Chunk: a.Cfg.Chunk, Account: a.Cfg.Account}
	if err := Register(ctx, root, bare, a.Key, NewIdentity("b"), time.Now()); !errors.Is(err, errors.Invalid) {
		t.Fatalf("Register without the master key: %v, want Invalid", err)
	}
	bare.Account = nil
	if _, err := Open(ctx, root, bare, a.Key, a.Me(), Options{}); !errors.Is(err, errors.Invalid) {
		t.Fatalf("Open without the account key: %v, want Invalid", err)
	}
}
