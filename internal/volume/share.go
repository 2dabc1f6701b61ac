package volume

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"fmt"
	"strconv"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/seal"
)

// KeyShare is a key share, "volumes/<id>/keys/<gen, 8 hex digits>/<device
// id>": the key of one key generation sealed to one device's X25519 key, so
// that the device learns it without the passphrase. Format
// (docs/FORMAT.md):
//
//	header    "DVPC" version kind(10)
//	gen       the generation shared, uint32 BE
//	device    recipient device id, 16 bytes
//	by        device id of the writer, 16 bytes
//	share     ephemeral X25519 public key (32) || seal(k, key, ad), 104 bytes
//	signature Ed25519 by the writer over every byte before it, 64 bytes
//
// k is HKDF-SHA256(X25519(ephemeral, recipient) || ephemeral public ||
// recipient public, info "dvpc v1 key share"); ad is "dvpc key share" ||
// volume id || the 42 bytes from header to by.
type KeyShare struct {
	Gen    uint32
	Device dvpc.DeviceID
	By     dvpc.DeviceID
	Share  []byte
	Sig    []byte
}

const keyShareSize = dvpc.HeaderSize + dvpc.GenSize + 16 + 16 + keys.ShareSize + ed25519.SignatureSize

func keyShareName(gen uint32, dev dvpc.DeviceID) string {
	return fmt.Sprintf("keys/%08x/%s", gen, dev)
}

func (s *KeyShare) head() []byte {
	b := dvpc.AppendGenHeader(nil, dvpc.KindKeyShare, s.Gen)
	b = append(b, s.Device[:]...)
	return append(b, s.By[:]...)
}

func keyShareAD(vol dvpc.VolumeID, head []byte) []byte {
	return append(append([]byte("dvpc key share"), vol[:]...), head...)
}

// sealKeyShare seals the key k of generation gen to the device to, signed
// by the device by. sealer, when set, replaces the nonce source (test
// vectors).
func sealKeyShare(vol dvpc.VolumeID, gen uint32, to *Device, by Identity, k keys.Key, eph *keys.Key, sealer func(*seal.Key) *seal.Key) ([]byte, error) {
	s := &KeyShare{Gen: gen, Device: to.ID, By: by.ID}
	head := s.head()
	var err error
	if eph != nil {
		s.Share, err = keys.SealShareWith(to.X25519, *eph, k, keyShareAD(vol, head), sealer)
	} else {
		s.Share, err = keys.SealShare(to.X25519, k, keyShareAD(vol, head))
	}
	if err != nil {
		return nil, err
	}
	b := append(head, s.Share...)
	return append(b, ed25519.Sign(by.Key, b)...), nil
}

// ParseKeyShare reads a key share's fields; it checks neither the
// signature (Verify) nor the sealed key (Open).
func ParseKeyShare(b []byte) (*KeyShare, error) {
	const op errors.Op = "volume.ParseKeyShare"
	gen, rest, err := dvpc.ParseGenHeader(b, dvpc.KindKeyShare)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(b) != keyShareSize {
		return nil, errors.E(op, errors.Corrupt, errors.Str("key share has a bad length"))
	}
	if gen < 2 {
		return nil, errors.E(op, errors.Corrupt, errors.Str("key share of generation 1, which is never shared"))
	}
	s := &KeyShare{Gen: gen}
	copy(s.Device[:], rest)
	copy(s.By[:], rest[16:])
	s.Share = append([]byte(nil), rest[32:32+keys.ShareSize]...)
	s.Sig = append([]byte(nil), rest[32+keys.ShareSize:]...)
	return s, nil
}

// Verify checks the writer's signature.
func (s *KeyShare) Verify(pub ed25519.PublicKey) bool {
	b := append(s.head(), s.Share...)
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, b, s.Sig)
}

// Open opens the share with the recipient's X25519 key.
func (s *KeyShare) Open(vol dvpc.VolumeID, x *ecdh.PrivateKey) (keys.Key, error) {
	return keys.OpenShare(x, s.Share, keyShareAD(vol, s.head()))
}

// syncShares reads this device's key shares of generations it lacks. A
// share must be signed by this device or by a device of the volume that is
// not revoked, else it is an error naming the object: a revoked device
// could otherwise hand out a generation it knows.
func (v *Volume) syncShares(ctx context.Context) (bool, error) {
	var added bool
	err := v.store.List(ctx, "keys/", func(i blob.Info) error {
		parts := strings.Split(i.Name, "/")
		if len(parts) != 3 || len(parts[1]) != 8 || parts[2] != v.me.ID.String() {
			return nil // another device's, or not ours to read
		}
		g, err := strconv.ParseUint(parts[1], 16, 32)
		if err != nil || g < 2 {
			return nil
		}
		if _, err := v.gen(uint32(g)); err == nil {
			return nil // held already
		}
		b, err := v.store.Get(ctx, i.Name, 0, -1)
		if err != nil {
			return err
		}
		k, err := v.openShare(b, uint32(g))
		if err != nil {
			return errors.E(i.Name, err)
		}
		v.mu.Lock()
		if v.addGen(uint32(g), k) {
			added, v.dirty = true, true
		}
		v.mu.Unlock()
		return nil
	})
	return added, err
}

func (v *Volume) openShare(b []byte, gen uint32) (keys.Key, error) {
	s, err := ParseKeyShare(b)
	if err != nil {
		return keys.Key{}, err
	}
	if s.Gen != gen || s.Device != v.me.ID {
		return keys.Key{}, errors.E(errors.Corrupt, errors.Str("key share names another generation or device"))
	}
	pub := v.me.Key.Public().(ed25519.PublicKey)
	v.mu.Lock()
	if s.By != v.me.ID {
		pub = nil
		if d := v.devices[s.By]; d != nil && v.revoked[s.By] == nil {
			pub = d.Public
		}
	}
	v.mu.Unlock()
	if !s.Verify(pub) {
		return keys.Key{}, errors.E(errors.Corrupt, errors.Str("key share is not signed by a device of this volume that is not revoked"))
	}
	return s.Open(v.cfg.ID, keys.DeviceX25519(v.me.Key))
}

// Rotation is what Rotate did.
type Rotation struct {
	Gen    uint32    // the new key generation
	Shared []*Device // the devices that received it
}

// Rotate adds a key generation with a fresh key: it is wrapped under the
// master key in the volume config (for later logins) and shared with every
// device of the volume that is not revoked (so they need no passphrase).
// From then on this device writes with it, and so does each other device
// once it syncs. Revoke a device first: it receives no share.
func (v *Volume) Rotate(ctx context.Context, master keys.Key) (*Rotation, error) {
	const op errors.Op = "volume.Rotate"
	if err := v.errRevoked(); err != nil {
		return nil, errors.E(op, err)
	}
	if err := v.Sync(ctx); err != nil {
		return nil, errors.E(op, err)
	}
	b, err := v.store.Get(ctx, ConfigObject, 0, -1)
	if err != nil {
		return nil, errors.E(op, err)
	}
	cfg, _, err := ParseConfig(master, b)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if cfg.ID != v.cfg.ID {
		return nil, errors.E(op, errors.Corrupt, ConfigObject, errors.Str("the volume config names another volume"))
	}
	v.mu.Lock()
	for g, k := range cfg.ring {
		v.addGen(uint32(g+1), k)
	}
	v.mu.Unlock()
	r := &Rotation{Gen: uint32(len(cfg.ring)) + 1}
	k := keys.New()
	// The shares go first: a device that sees the new config finds its
	// share. Then the config, the generation's record for new logins.
	for _, d := range v.Devices() {
		if v.Revoked(d.ID) != nil || len(d.X25519) == 0 {
			continue
		}
		sb, err := sealKeyShare(cfg.ID, r.Gen, d, v.me, k, nil, nil)
		if err != nil {
			return nil, errors.E(op, d.ID.String(), err)
		}
		if err := v.store.Put(ctx, keyShareName(r.Gen, d.ID), sb); err != nil {
			return nil, errors.E(op, err)
		}
		r.Shared = append(r.Shared, d)
	}
	cfg.Wrapped = append(cfg.Wrapped, keys.WrapVolumeKey(master, cfg.ID, r.Gen, k))
	v.mu.Lock()
	v.addGen(r.Gen, k)
	v.dirty = true
	v.mu.Unlock()
	if err := v.store.Put(ctx, ConfigObject, cfg.Marshal(v.newest().keys.Meta)); err != nil {
		return nil, errors.E(op, err)
	}
	if err := v.SaveState(); err != nil {
		return nil, errors.E(op, err)
	}
	return r, nil
}
