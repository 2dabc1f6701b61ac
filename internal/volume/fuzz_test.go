package volume

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
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
	c.Wrapped = keys.WrapVolumeKey(fuzzMaster, c.ID, fuzzVolKey)
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
	f.Add(d.Marshal(fuzzKeys.Meta))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := ParseDevice(fuzzKeys.Meta, b); err == nil && len(d.Public) != ed25519.PublicKeySize {
			t.Fatal("accepted a device record with a bad key")
		}
	})
}

// The local state is sealed, but a damaged body must still never panic:
// decodeState sees it only after the AEAD, yet keep it robust.
func FuzzDecodeState(f *testing.F) {
	cfg := &Config{}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		w := &Volume{cfg: cfg, keys: fuzzKeys, devices: map[dvpc.DeviceID]*Device{}, logs: map[dvpc.DeviceID]*devLog{},
			index: pack.NewIndex(), indexes: map[dvpc.ObjectID]bool{}}
		w.decodeState(b)
	})
}
