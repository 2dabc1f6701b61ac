package volume

import (
	"fmt"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/pack"
	"github.com/dvpc/dvpc/internal/seal"
)

// A volume has key generations 1..n (docs/FORMAT.md, "Key generations").
// Generation 1 is the volume key; each rotation, after a device is revoked,
// adds one with a fresh key that the revoked device never receives. Every
// sealed object says in bytes 6-9 which generation sealed it. A device
// writes with the newest generation it holds and reads with any it holds.

// generation is one key generation this device holds.
type generation struct {
	key   keys.Key
	keys  *keys.Volume
	codec *pack.Codec
}

// addGen records the key of generation g; v.mu is held or v is not shared
// yet. It reports whether the generation is new.
func (v *Volume) addGen(g uint32, k keys.Key) bool {
	if v.gens == nil {
		v.gens = map[uint32]*generation{}
	}
	if v.gens[g] != nil || g == 0 {
		return false
	}
	gk := v.keys.Generation(g, k)
	if g == 1 {
		gk = v.keys
	}
	v.gens[g] = &generation{key: k, keys: gk, codec: v.codec.WithKeys(gk)}
	v.top = max(v.top, g)
	return true
}

// gen returns the keys of generation g, or an error saying this device
// lacks them.
func (v *Volume) gen(g uint32) (*generation, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if k := v.gens[g]; k != nil {
		return k, nil
	}
	return nil, errNoGen(g)
}

func errNoGen(g uint32) error {
	return errors.E(errors.Permission, errors.Str(fmt.Sprintf(
		"sealed under key generation %d, which this device does not hold: it was revoked, or its key share is missing; log in again with the passphrase", g)))
}

// newest returns the newest generation this device holds: the one it
// writes with.
func (v *Volume) newest() *generation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gens[v.top]
}

// metaFor returns the meta key that opens the object b, by the key
// generation in its header.
func (v *Volume) metaFor(b []byte) (*seal.Key, error) {
	g, err := v.gen(dvpc.Gen(b))
	if err != nil {
		return nil, err
	}
	return g.keys.Meta, nil
}

// codecFor returns the chunk codec of generation g.
func (v *Volume) codecFor(g uint32) (*pack.Codec, error) {
	k, err := v.gen(g)
	if err != nil {
		return nil, err
	}
	return k.codec, nil
}

// Generation returns the newest key generation this device holds.
func (v *Volume) Generation() uint32 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.top
}
