package volume

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/pack"
)

var (
	fuzzMaster = keys.Key{1}
	fuzzVolKey = keys.Key{2}
	fuzzKeys   = keys.ForVolume(fuzzVolKey)
)

func FuzzParseConfig(f *testing.F) {
	c := &Config{ID: dvpc.VolumeID{3}, Name: "v", Created: time.Unix(1, 0), Chunk: chunk.DefaultParams()}
	c.Wrapped = [][]byte{keys.WrapVolumeKey(fuzzMaster, c.ID, 1, fuzzVolKey)}
	f.Add(c.Marshal(fuzzKeys.Meta))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, vk, err := ParseConfig(fuzzMaster, b)
		if err == nil && (vk != fuzzVolKey || got.Chunk.Validate() != nil) {
			t.Fatal("accepted a config with a wrong key or bad chunk params")
		}
	})
}

func FuzzParseDevice(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	d := &Device{ID: dvpc.DeviceID{4}, Name: "pc", Public: priv.Public().(ed25519.PublicKey), Created: time.Unix(2, 0)}
	d.X25519 = keys.DeviceX25519(priv).PublicKey().Bytes()
	acct := keys.AccountSigningKey(fuzzMaster)
	d.Sign(dvpc.VolumeID{3}, acct)
	f.Add(d.Marshal(fuzzKeys.Meta, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseDevice(fuzzKeys.Meta, b)
		if err != nil {
			return
		}
		if len(got.Public) != ed25519.PublicKeySize || len(got.Sig) != ed25519.SignatureSize {
			t.Fatal("accepted a device record with a bad key or signature")
		}
		if got.Verify(dvpc.VolumeID{3}, acct.Public().(ed25519.PublicKey)) &&
			(!got.Public.Equal(d.Public) || got.Name != d.Name || !got.Created.Equal(d.Created)) {
			t.Fatal("a record the account did not sign verifies")
		}
	})
}

// The local state is sealed, but a damaged body must still never panic:
// decodeState sees it only after the AEAD, yet keep it robust.
func FuzzDecodeState(f *testing.F) {
	cfg := &Config{}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &Volume{cfg: cfg, keys: fuzzKeys, codec: pack.NewCodec(fuzzKeys), devices: map[dvpc.DeviceID]*Device{}, logs: map[dvpc.DeviceID]*devLog{},
			index: pack.NewIndex(), indexes: map[dvpc.ObjectID]bool{}}
		w.decodeState(b)
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	v := &Volume{keys: fuzzKeys, codec: pack.NewCodec(fuzzKeys)}
	v.addGen(1, fuzzVolKey)
	cp := &checkpoint{time: 5 << 16, heads: map[dvpc.DeviceID]head{{1}: {seq: 2, id: dvpc.ObjectID{3}}},
		nodes:   []Node{{Path: "/a", Change: Change{Device: dvpc.DeviceID{1}, Entry: &journal.Entry{Time: 5 << 16, Op: journal.Mkdir, Path: "/a"}}}},
		indexes: []dvpc.ObjectID{{4}}}
	f.Add(v.marshalCheckpoint(cp))
	f.Add(cp.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		v.parseCheckpoint(b)
		if cp, err := decodeCheckpoint(b); err == nil {
			if _, err := decodeCheckpoint(cp.encode()); err != nil {
				t.Fatalf("a decoded checkpoint does not re-decode: %v", err)
			}
		}
	})
}

// A key share comes from the mirror: its parser must refuse what is not one
// and never panic; a share that parses, verifies and opens is the one made.
func FuzzParseKeyShare(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	me := Identity{ID: dvpc.DeviceID{5}, Key: priv}
	d := &Device{ID: me.ID, Public: priv.Public().(ed25519.PublicKey), X25519: keys.DeviceX25519(priv).PublicKey().Bytes()}
	good, err := sealKeyShare(dvpc.VolumeID{3}, 2, d, me, fuzzVolKey, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	x := keys.DeviceX25519(priv)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseKeyShare(b)
		if err != nil {
			return
		}
		if s.Gen < 2 || len(s.Share) != keys.ShareSize {
			t.Fatalf("accepted a share of generation %d with %d bytes", s.Gen, len(s.Share))
		}
		if k, err := s.Open(dvpc.VolumeID{3}, x); err == nil && s.Verify(d.Public) && k != fuzzVolKey {
			t.Fatal("a verified share opened to another key")
		}
	})
}

// FuzzParseMirrors feeds whole objects, and bodies sealed with the right
// key (so that the JSON and its checks are reached): an accepted set is a
// valid one, and survives a round trip.
func FuzzParseMirrors(f *testing.F) {
	vol := dvpc.VolumeID{5}
	m := &MirrorSet{Version: 2, Quorum: 2, Mirrors: []MirrorRecord{
		{ID: "0123456789abcdef", Endpoints: []string{"/mnt/usb"}, Removable: true},
		{ID: "fedcba9876543210", Endpoints: []string{"https://a.example", "https://b.example"}, User: "u"},
	}}
	obj := MarshalMirrors(fuzzKeys.Meta, 1, vol, m)
	f.Add(obj, []byte(`{"quorum":2,"mirrors":[{"id":"0123456789abcdef","endpoints":["/x"]}]}`))
	f.Add([]byte("DVPC"), []byte(`{"quorum":-1,"mirrors":[]}`))
	f.Fuzz(func(t *testing.T, raw, body []byte) {
		if got, err := ParseMirrors(fuzzKeys.Meta, vol, raw); err == nil && got.Validate() != nil {
			t.Fatal("accepted an invalid mirror set")
		}
		// The body sealed as a writer would: header, generation, version.
		b := dvpc.AppendGenHeader(nil, dvpc.KindMirrors, 1)
		b = append(b, 0, 0, 0, 0, 0, 0, 0, 7)
		b = fuzzKeys.Meta.Seal(b, body, mirrorsAD(vol, 7))
		got, err := ParseMirrors(fuzzKeys.Meta, vol, b)
		if err != nil {
			return
		}
		if got.Validate() != nil || got.Version != 7 {
			t.Fatal("accepted an invalid mirror set")
		}
		again, err := ParseMirrors(fuzzKeys.Meta, vol, MarshalMirrors(fuzzKeys.Meta, 1, vol, got))
		if err != nil || len(again.Mirrors) != len(got.Mirrors) || again.Quorum != got.Quorum {
			t.Fatalf("round trip: %v", err)
		}
	})
}
