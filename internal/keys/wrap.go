package keys

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Account is the key envelope of an account, stored on every mirror as the
// object "account". It holds the Argon2id parameters and salt and the master
// key sealed under the unwrap key. Format (docs/FORMAT.md):
//
//	header   "DVPC" version(1) kind(KindAccount)
//	time     uint32 BE
//	memory   uint32 BE (KiB)
//	threads  uint8
//	salt     16 bytes
//	wrapped  seal(unwrap, master, ad = "dvpc account master key")  (72 bytes)
//	checksum SHA-256 of every byte before it
type Account struct {
	Params  Params
	Salt    [16]byte
	Wrapped []byte
}

const accountAD = "dvpc account master key"

// NewAccount makes an account envelope for a fresh master key.
func NewAccount(passphrase []byte, p Params) (*Account, Key) {
	master := New()
	a := &Account{Params: p}
	if _, err := rand.Read(a.Salt[:]); err != nil {
		panic(err)
	}
	a.Rewrap(passphrase, master)
	return a, master
}

// Rewrap seals master under a new passphrase with a new salt.
func (a *Account) Rewrap(passphrase []byte, master Key) {
	if _, err := rand.Read(a.Salt[:]); err != nil {
		panic(err)
	}
	s := Stretch(passphrase, a.Salt[:], a.Params)
	a.Wrapped = seal.NewKey(s.Unwrap).Seal(nil, master[:], []byte(accountAD))
}

// Unlock stretches the passphrase and opens the master key.
func (a *Account) Unlock(passphrase []byte) (Key, error) {
	s := Stretch(passphrase, a.Salt[:], a.Params)
	return a.UnlockWith(s.Unwrap)
}

// UnlockWith opens the master key with an unwrap key already stretched.
func (a *Account) UnlockWith(unwrap Key) (Key, error) {
	pt, err := seal.NewKey(unwrap).Open(nil, a.Wrapped, []byte(accountAD))
	if err != nil || len(pt) != Size {
		return Key{}, errors.E(errors.Op("keys.Unlock"), errors.Permission,
			errors.Str("wrong passphrase: it does not open this account's key (check the passphrase, or the key file if one is used)"))
	}
	return Key(pt), nil
}

// Marshal encodes the envelope.
func (a *Account) Marshal() []byte {
	b := dvpc.AppendHeader(nil, dvpc.KindAccount)
	b = binary.BigEndian.AppendUint32(b, a.Params.Time)
	b = binary.BigEndian.AppendUint32(b, a.Params.MemoryKiB)
	b = append(b, a.Params.Threads)
	b = append(b, a.Salt[:]...)
	b = append(b, a.Wrapped...)
	return dvpc.AppendChecksum(b)
}

// ParseAccount decodes an envelope, refusing anything malformed.
func ParseAccount(b []byte) (*Account, error) {
	const op errors.Op = "keys.ParseAccount"
	body, err := dvpc.ParseHeader(b, dvpc.KindAccount)
	if err != nil {
		return nil, errors.E(op, err)
	}
	body, ok := dvpc.CutChecksum(b, body)
	if !ok {
		return nil, errors.E(op, errors.Corrupt, errors.Str("the account key envelope is damaged (its checksum does not match): restore it from another mirror"))
	}
	if len(body) != 4+4+1+16+seal.Overhead+Size {
		return nil, errors.E(op, errors.Corrupt, errors.Str("account key envelope has the wrong length"))
	}
	a := &Account{Params: Params{
		Time:      binary.BigEndian.Uint32(body[0:]),
		MemoryKiB: binary.BigEndian.Uint32(body[4:]),
		Threads:   body[8],
	}}
	copy(a.Salt[:], body[9:25])
	a.Wrapped = append([]byte(nil), body[25:]...)
	if err := a.Params.Validate(); err != nil {
		return nil, errors.E(op, err)
	}
	return a, nil
}

// WrapVolumeKey seals a volume key under the master key, bound to the
// volume's id.
func WrapVolumeKey(master Key, vol dvpc.VolumeID, k Key) []byte {
	return seal.NewKey(master).Seal(nil, k[:], volumeAD(vol))
}

// UnwrapVolumeKey opens a volume key sealed by WrapVolumeKey.
func UnwrapVolumeKey(master Key, vol dvpc.VolumeID, wrapped []byte) (Key, error) {
	pt, err := seal.NewKey(master).Open(nil, wrapped, volumeAD(vol))
	if err != nil || len(pt) != Size {
		return Key{}, errors.E(errors.Op("keys.UnwrapVolumeKey"), errors.Permission,
			errors.Str("the account key does not open this volume's key: the volume belongs to another account, or its config was altered"))
	}
	return Key(pt), nil
}

func volumeAD(vol dvpc.VolumeID) []byte { return append([]byte("dvpc volume key "), vol[:]...) }
