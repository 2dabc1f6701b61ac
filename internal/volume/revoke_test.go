package volume

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
)

// A revoked device's later segments are not part of the volume for any
// device, and the revoked device itself can no longer write once it knows.
func TestRevokeCutsJournal(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	a := NewTest(t, root, "a", nil)
	b := OpenTest(t, root, a.Cfg, a.Key, "b", nil)
	c := OpenTest(t, root, a.Cfg, a.Key, "c", nil)

	if err := b.Mkdir(ctx, "/before", 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := a.Revoke(ctx, b.Me().ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 1 {
		t.Fatalf("revocation ends the journal at %d, want 1", r.Seq)
	}
	// b has not heard of it yet (a thief's copy, say): its next segment
	// reaches the mirror but no other device takes it.
	if err := b.Mkdir(ctx, "/after", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Volume{a.Volume, c} {
		if err := v.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if v.Tree().Lookup("/before") == nil {
			t.Errorf("%s: lost the change made before the revocation", v.Me().Name)
		}
		if v.Tree().Lookup("/after") != nil {
			t.Errorf("%s: took a segment signed after the revocation", v.Me().Name)
		}
	}
	// A new device opening the volume agrees.
	d := OpenTest(t, root, a.Cfg, a.Key, "d", nil)
	if d.Tree().Lookup("/after") != nil || d.Tree().Lookup("/before") == nil {
		t.Error("a new device does not see the cut journal")
	}
	// Once b syncs, it refuses to write.
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Mkdir(ctx, "/again", 0o755); !errors.Is(err, errors.Permission) {
		t.Fatalf("write by a revoked device: %v, want Permission", err)
	}
	if _, err := a.Revoke(ctx, a.Me().ID); !errors.Is(err, errors.Invalid) {
		t.Fatalf("self-revocation: %v, want Invalid", err)
	}
	res, err := a.Check(ctx, false, nil)
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("check after revocation: %v %v", err, res.Problems)
	}
}

// A revocation record signed by a key that is not a device of the volume
// is refused, so a mirror (or anyone without a device key) cannot cut a
// device's journal.
func TestRevocationForged(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	a := NewTest(t, root, "a", nil)
	b := OpenTest(t, root, a.Cfg, a.Key, "b", nil)
	_, stranger, _ := ed25519.GenerateKey(nil)
	r := &Revocation{Device: b.Me().ID, Time: time.Now(), By: dvpc.NewDeviceID()}
	name := volumePrefix(a.Cfg.ID) + "revoked/" + b.Me().ID.String()
	if err := root.Put(ctx, name, r.Marshal(a.keys.Meta, 1, stranger)); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("sync with a forged revocation: %v, want Corrupt", err)
	}
	// Signed by a's key but claiming to be by another device: also refused.
	r = &Revocation{Device: b.Me().ID, Time: time.Now(), By: b.Me().ID}
	if err := root.Put(ctx, name, r.Marshal(a.keys.Meta, 1, a.Me().Key)); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(ctx); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("sync with a misattributed revocation: %v, want Corrupt", err)
	}
}

func TestRevocationRoundTrip(t *testing.T) {
	root := mem.New()
	a := NewTest(t, root, "a", nil)
	r := &Revocation{Device: dvpc.NewDeviceID(), Seq: 7, Last: dvpc.Hash([]byte("x")), Time: time.Unix(0, 12345), By: a.Me().ID}
	b := r.Marshal(a.keys.Meta, 1, a.Me().Key)
	got, err := ParseRevocation(a.keys.Meta, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Device != r.Device || got.Seq != 7 || got.Last != r.Last || !got.Time.Equal(r.Time) || got.By != r.By || !got.Verify(a.Me().Key.Public().(ed25519.PublicKey)) {
		t.Fatalf("round trip: %+v", got)
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 1
		// The key generation in bytes 6-9 picks the key, as in Sync.
		meta, err := a.metaFor(bad)
		if err != nil {
			continue
		}
		if p, err := ParseRevocation(meta, bad); err == nil && p.Verify(a.Me().Key.Public().(ed25519.PublicKey)) {
			t.Fatalf("flipped byte %d still parses and verifies", i)
		}
	}
}

func FuzzParseRevocation(f *testing.F) {
	root := mem.New()
	a := NewTest(f, root, "a", nil)
	r := &Revocation{Device: dvpc.NewDeviceID(), Seq: 1, Time: time.Unix(1, 0), By: a.Me().ID}
	f.Add(r.Marshal(a.keys.Meta, 1, a.Me().Key))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ParseRevocation(a.keys.Meta, b); err == nil && r.Verify(a.Me().Key.Public().(ed25519.PublicKey)) {
			_ = r.Marshal(a.keys.Meta, 1, a.Me().Key)
		}
	})
}
