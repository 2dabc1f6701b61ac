package volume

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Revocation is a revocation record, "volumes/<id>/revoked/<device id>":
// the device's journal ends at segment Seq, and the volume's devices
// accept no later segment it signs. Format (docs/FORMAT.md):
//
//	header   "DVPC" version kind(9)
//	gen      key generation, uint32 BE
//	device   revoked device id, 16 bytes
//	sealed   seal(meta, body, ad = "dvpc revocation" || device id)
//
// body: seq (uint64 BE), last segment id (32 bytes), time (int64 BE, Unix
// ns), revoker device id (16 bytes), Ed25519 signature (64 bytes) by the
// revoker over "dvpc revocation" || device id || the body before it.
type Revocation struct {
	Device dvpc.DeviceID
	Seq    uint64        // the last segment accepted
	Last   dvpc.ObjectID // its id (zero when Seq is 0)
	Time   time.Time
	By     dvpc.DeviceID
	Sig    []byte
}

const revocationBody = 8 + 32 + 8 + 16 + ed25519.SignatureSize

func revocationAD(id dvpc.DeviceID) []byte { return append([]byte("dvpc revocation"), id[:]...) }

func (r *Revocation) signed() []byte {
	b := revocationAD(r.Device)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, r.Last[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixNano()))
	return append(b, r.By[:]...)
}

// Marshal signs the record with the revoker's key and seals it with meta,
// the meta key of key generation gen.
func (r *Revocation) Marshal(meta *seal.Key, gen uint32, by ed25519.PrivateKey) []byte {
	msg := r.signed()
	r.Sig = ed25519.Sign(by, msg)
	body := append(msg[len(revocationAD(r.Device)):], r.Sig...)
	b := dvpc.AppendGenHeader(nil, dvpc.KindRevocation, gen)
	b = append(b, r.Device[:]...)
	return meta.Seal(b, body, revocationAD(r.Device))
}

// ParseRevocation opens a record with meta, the meta key of its key
// generation; the caller checks the signature with Verify once it knows the
// revoker's public key.
func ParseRevocation(meta *seal.Key, b []byte) (*Revocation, error) {
	const op errors.Op = "volume.ParseRevocation"
	_, rest, err := dvpc.ParseGenHeader(b, dvpc.KindRevocation)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(rest) < 16 {
		return nil, errors.E(op, errors.Corrupt, errors.Str("revocation record too short"))
	}
	r := &Revocation{}
	copy(r.Device[:], rest)
	body, err := meta.Open(nil, rest[16:], revocationAD(r.Device))
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(body) != revocationBody {
		return nil, errors.E(op, errors.Corrupt, errors.Str("revocation record has a bad length"))
	}
	r.Seq = binary.BigEndian.Uint64(body)
	copy(r.Last[:], body[8:40])
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(body[40:])))
	copy(r.By[:], body[48:64])
	r.Sig = append([]byte(nil), body[64:]...)
	return r, nil
}

// Verify checks the revoker's signature.
func (r *Revocation) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, r.signed(), r.Sig)
}

// Revoke ends the journal of device dev where the mirror has it now: no
// device of the volume accepts a later segment signed by dev's key. On a
// server, revoke the device's token first, so that nothing can follow.
// Revoking this device itself is refused.
func (v *Volume) Revoke(ctx context.Context, dev dvpc.DeviceID) (*Revocation, error) {
	const op errors.Op = "volume.Revoke"
	if dev == v.me.ID {
		return nil, errors.E(op, errors.Invalid, errors.Str("a device cannot revoke itself: revoke it from another device"))
	}
	if err := v.Sync(ctx); err != nil {
		return nil, errors.E(op, err)
	}
	v.mu.Lock()
	_, known := v.devices[dev]
	old := v.revoked[dev]
	v.mu.Unlock()
	if !known {
		return nil, errors.E(op, errors.NotExist, dev.String(), errors.Str("no such device in this volume"))
	}
	if old != nil {
		return old, nil
	}
	// The end is the newest segment on the mirror, read or not: what the
	// device wrote before its revocation stays part of the volume.
	r := &Revocation{Device: dev, Time: v.now(), By: v.me.ID}
	err := v.store.List(ctx, "journal/"+dev.String()+"/", func(i blob.Info) error {
		if s, ok := parseSegName(i.Name); ok && s.dev == dev && s.seq > r.Seq {
			r.Seq, r.Last = s.seq, s.id
		}
		return nil
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	g := v.newest()
	if err := v.store.Put(ctx, "revoked/"+dev.String(), r.Marshal(g.keys.Meta, g.keys.Gen, v.me.Key)); err != nil {
		return nil, errors.E(op, err)
	}
	v.mu.Lock()
	v.revoked[dev] = r
	v.mu.Unlock()
	return r, nil
}

// Revoked returns the revocation of a device, or nil.
func (v *Volume) Revoked(dev dvpc.DeviceID) *Revocation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.revoked[dev]
}

// syncRevocations reads the revocation records. A record that does not
// open, or whose signer is not a device of the volume, is an error naming
// the object. When two records name one device, the earlier end wins. With
// lenient, records of a key generation this device lacks are skipped (the
// key shares are read next).
func (v *Volume) syncRevocations(ctx context.Context, lenient bool) error {
	return v.store.List(ctx, "revoked/", func(i blob.Info) error {
		id, err := dvpc.ParseDeviceID(strings.TrimPrefix(i.Name, "revoked/"))
		if err != nil {
			return nil // not ours to read
		}
		b, err := v.store.Get(ctx, i.Name, 0, -1)
		if err != nil {
			return err
		}
		if _, err := v.gen(dvpc.Gen(b)); err != nil && lenient {
			return nil
		}
		r, err := v.checkRevocation(b)
		if err != nil {
			return errors.E(i.Name, err)
		}
		if r.Device != id {
			return errors.E(errors.Corrupt, i.Name, errors.Str("revocation record names another device"))
		}
		v.mu.Lock()
		if old := v.revoked[id]; old == nil || r.Seq < old.Seq {
			v.revoked[id] = r
		}
		v.mu.Unlock()
		return nil
	})
}

func (v *Volume) checkRevocation(b []byte) (*Revocation, error) {
	meta, err := v.metaFor(b)
	if err != nil {
		return nil, err
	}
	r, err := ParseRevocation(meta, b)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	by := v.devices[r.By]
	v.mu.Unlock()
	if by == nil || !r.Verify(by.Public) {
		return nil, errors.E(errors.Corrupt, errors.Str("revocation record is not signed by a device of this volume"))
	}
	return r, nil
}

// cutOff reports whether segment s comes after its device's revocation.
func (v *Volume) cutOff(s segName) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	r := v.revoked[s.dev]
	return r != nil && s.seq > r.Seq
}

// errRevoked is the error of a write by a revoked device.
func (v *Volume) errRevoked() error {
	v.mu.Lock()
	r := v.revoked[v.me.ID]
	v.mu.Unlock()
	if r == nil {
		return nil
	}
	return errors.E(errors.Permission, errors.Str("this device was revoked on "+r.Time.UTC().Format(time.RFC3339)+" by device "+v.DeviceName(r.By)+"; log in again to write"))
}
