package keys

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Account is the key envelope of an account, stored on every mirror as the
// object "account". It holds the Argon2id parameters and salt, and the
// master key sealed in slots: exactly one under the passphrase (mixed with
// a key file when Flags has FlagKeyFile), then up to MaxRecovery under
// one-time recovery codes. Format (docs/FORMAT.md, "Account"):
//
//	header   "DVPC" version(1) kind(KindAccount)
//	time     uint32 BE
//	memory   uint32 BE (KiB)
//	threads  uint8
//	salt     16 bytes
//	flags    uint8: bit 0 set when a key file is required
//	count    uint8: the number of slots, 1 to 1+MaxRecovery
//	slots    count × (kind uint8, id 8 bytes, sealed master key 72 bytes)
//	checksum SHA-256 of every byte before it
//
// The first slot is the passphrase's (kind 1, id zero); the others are
// recovery codes' (kind 2, distinct ids, none zero).
//
// Params and Salt are what a server's prelogin hands out, so a client can
// run Stretch and log in before it holds the envelope.
type Account struct {
	Params Params
	Salt   [16]byte
	Flags  Flags
	Slots  []Slot
}

// Flags are the account's options.
type Flags uint8

// FlagKeyFile says that opening the master key needs the key file as well
// as the passphrase. Logging in to a server does not: the auth key comes
// from the passphrase alone.
const FlagKeyFile Flags = 1 << 0

// SlotKind says what opens a slot.
type SlotKind uint8

// The kinds of slot.
const (
	SlotPassphrase SlotKind = 1 // the passphrase, and the key file if required
	SlotRecovery   SlotKind = 2 // one recovery code
)

// SlotID names a recovery slot, so that the slot of a used code can be
// found and removed. The passphrase slot's id is zero.
type SlotID [8]byte

func (id SlotID) String() string { return hex.EncodeToString(id[:]) }

// Slot is the master key sealed under one factor.
type Slot struct {
	Kind   SlotKind
	ID     SlotID
	Sealed []byte // seal(key, master key, ad): SlotSealedSize bytes
}

const (
	// MaxRecovery bounds the recovery codes of an account.
	MaxRecovery = 10
	// SlotSealedSize is the size of a sealed master key.
	SlotSealedSize = seal.Overhead + Size

	maxSlots    = 1 + MaxRecovery
	slotSize    = 1 + len(SlotID{}) + SlotSealedSize
	accountHead = 4 + 4 + 1 + 16 + 1 + 1 // params, salt, flags, count
)

// AccountSize is the size of an envelope with n slots.
func AccountSize(n int) int {
	return dvpc.HeaderSize + accountHead + n*slotSize + dvpc.ChecksumSize
}

// passphraseAD is the additional data of the passphrase slot.
const passphraseAD = "dvpc account master key"

// NewAccount makes an account envelope for a fresh master key, sealed under
// the passphrase and, if keyFile is not empty, the key file. It returns the
// envelope, the master key, and the auth key for a server's sign-up.
func NewAccount(passphrase, keyFile []byte, p Params) (a *Account, master, auth Key) {
	master = New()
	a = &Account{Params: p}
	auth = a.Rewrap(passphrase, keyFile, master)
	return a, master, auth
}

// Rewrap seals master under a passphrase, and keyFile if it is not empty,
// with a new salt, in place of the passphrase slot: the old passphrase and
// key file stop opening this envelope (a copy of the old envelope still
// opens with them); the recovery slots stay. It returns the new auth key,
// for a server's passphrase change.
func (a *Account) Rewrap(passphrase, keyFile []byte, master Key) (auth Key) {
	mustRand(a.Salt[:])
	a.Flags &^= FlagKeyFile
	if len(keyFile) > 0 {
		a.Flags |= FlagKeyFile
	}
	s := a.Stretch(passphrase)
	slot := Slot{Kind: SlotPassphrase}
	slot.Sealed = seal.NewKey(a.unwrapKey(s.Unwrap, keyFile)).Seal(nil, master[:], []byte(passphraseAD))
	if len(a.Slots) > 0 && a.Slots[0].Kind == SlotPassphrase {
		a.Slots[0] = slot
	} else {
		a.Slots = append([]Slot{slot}, a.Slots...)
	}
	return s.Auth
}

// Stretch runs Argon2id over the passphrase with the envelope's salt and
// parameters.
func (a *Account) Stretch(passphrase []byte) Stretched {
	return Stretch(passphrase, a.Salt[:], a.Params)
}

// KeyFileRequired reports whether opening the master key needs a key file.
func (a *Account) KeyFileRequired() bool { return a.Flags&FlagKeyFile != 0 }

// Unlock stretches the passphrase and opens the master key. keyFile is the
// key file's bytes, or nil when the account uses none.
func (a *Account) Unlock(passphrase, keyFile []byte) (Key, error) {
	if err := a.checkKeyFile(keyFile); err != nil {
		return Key{}, err // before the costly stretch
	}
	return a.UnlockWith(a.Stretch(passphrase).Unwrap, keyFile)
}

// UnlockWith opens the master key with an unwrap key already stretched
// (for example, with the parameters and salt of a server's prelogin).
func (a *Account) UnlockWith(unwrap Key, keyFile []byte) (Key, error) {
	const op errors.Op = "keys.Unlock"
	if err := a.checkKeyFile(keyFile); err != nil {
		return Key{}, err
	}
	if len(a.Slots) == 0 || a.Slots[0].Kind != SlotPassphrase {
		return Key{}, errors.E(op, errors.Corrupt, errors.Str("the account key envelope has no passphrase slot"))
	}
	pt, err := seal.NewKey(a.unwrapKey(unwrap, keyFile)).Open(nil, a.Slots[0].Sealed, []byte(passphraseAD))
	if err == nil && len(pt) == Size {
		return Key(pt), nil
	}
	if a.KeyFileRequired() {
		return Key{}, errors.E(op, errors.Permission, errors.Str(
			"wrong passphrase or key file: together they do not open this account's key (check both, or use a recovery code)"))
	}
	return Key{}, errors.E(op, errors.Permission, errors.Str(
		"wrong passphrase: it does not open this account's key (check it, or use a recovery code)"))
}

// checkKeyFile refuses a missing key file where one is required, and one
// given where none is used.
func (a *Account) checkKeyFile(keyFile []byte) error {
	const op errors.Op = "keys.Unlock"
	switch {
	case a.KeyFileRequired() && len(keyFile) == 0:
		return errors.E(op, errors.Permission, errors.Str(
			"this account's key needs its key file as well as the passphrase, and no key file was given"))
	case !a.KeyFileRequired() && len(keyFile) > 0:
		return errors.E(op, errors.Invalid, errors.Str(
			"this account uses no key file: open it with the passphrase alone"))
	}
	return nil
}

// unwrapKey returns the key of the passphrase slot: the unwrap key, mixed
// with the key file when the envelope requires one.
func (a *Account) unwrapKey(unwrap Key, keyFile []byte) Key {
	if !a.KeyFileRequired() {
		return unwrap
	}
	return keyFileUnwrap(unwrap, keyFile)
}

// Marshal encodes the envelope. It panics if the envelope holds more slots
// than a count byte can say; ParseAccount checks everything else.
func (a *Account) Marshal() []byte {
	if len(a.Slots) > 255 {
		panic("keys: account envelope with too many slots")
	}
	b := dvpc.AppendHeader(make([]byte, 0, AccountSize(len(a.Slots))), dvpc.KindAccount)
	b = binary.BigEndian.AppendUint32(b, a.Params.Time)
	b = binary.BigEndian.AppendUint32(b, a.Params.MemoryKiB)
	b = append(b, a.Params.Threads)
	b = append(b, a.Salt[:]...)
	b = append(b, byte(a.Flags), byte(len(a.Slots)))
	for _, s := range a.Slots {
		b = append(b, byte(s.Kind))
		b = append(b, s.ID[:]...)
		b = append(b, s.Sealed...)
	}
	return dvpc.AppendChecksum(b)
}

// ParseAccount decodes an envelope, refusing anything malformed: a newer
// version, a bad checksum, a length that is not exactly that of its slot
// count, more than 1+MaxRecovery slots, unknown flags or slot kinds, and
// implausible Argon2id parameters.
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
	if len(body) < accountHead {
		return nil, errors.E(op, errors.Corrupt, errors.Str("account key envelope too short"))
	}
	n := int(body[accountHead-1])
	if n < 1 || n > maxSlots {
		return nil, errors.E(op, errors.Corrupt, errors.Str(fmt.Sprintf("account key envelope with %d key slots: it holds 1 to %d", n, maxSlots)))
	}
	if len(body) != accountHead+n*slotSize {
		return nil, errors.E(op, errors.Corrupt, errors.Str(fmt.Sprintf("account key envelope of %d bytes: with %d slots it has %d", len(b), n, AccountSize(n))))
	}
	a := &Account{
		Params: Params{
			Time:      binary.BigEndian.Uint32(body[0:]),
			MemoryKiB: binary.BigEndian.Uint32(body[4:]),
			Threads:   body[8],
		},
		Flags: Flags(body[25]),
		Slots: make([]Slot, n),
	}
	copy(a.Salt[:], body[9:25])
	if err := a.Params.Validate(); err != nil {
		return nil, errors.E(op, err)
	}
	if a.Flags&^FlagKeyFile != 0 {
		return nil, errors.E(op, errors.Corrupt, errors.Str(fmt.Sprintf("account key envelope with unknown flags %#02x", byte(a.Flags))))
	}
	rest := body[accountHead:]
	for i := range a.Slots {
		s := &a.Slots[i]
		s.Kind = SlotKind(rest[0])
		copy(s.ID[:], rest[1:])
		s.Sealed = bytes.Clone(rest[1+len(s.ID) : slotSize])
		rest = rest[slotSize:]
	}
	if err := checkSlots(a.Slots); err != nil {
		return nil, errors.E(op, errors.Corrupt, err)
	}
	return a, nil
}

// checkSlots checks the kinds and ids of the slots: the passphrase's first
// with id zero, then recovery codes' with distinct ids, none zero.
func checkSlots(slots []Slot) error {
	seen := make(map[SlotID]bool, len(slots))
	for i, s := range slots {
		switch {
		case i == 0 && (s.Kind != SlotPassphrase || s.ID != SlotID{}):
			return errors.Str("account key envelope without its passphrase slot first")
		case i > 0 && s.Kind != SlotRecovery:
			return errors.Str(fmt.Sprintf("account key envelope with a slot of kind %d where a recovery slot belongs", s.Kind))
		case i > 0 && (s.ID == SlotID{} || seen[s.ID]):
			return errors.Str("account key envelope with a zero or repeated recovery slot id")
		}
		seen[s.ID] = true
	}
	return nil
}

// KeyFileSize is the size of a key file made by NewKeyFile.
const KeyFileSize = 32

// NewKeyFile returns the contents of a new key file: 32 random bytes. Any
// file can serve as a key file; its SHA-256 is what counts.
func NewKeyFile() []byte {
	b := make([]byte, KeyFileSize)
	mustRand(b)
	return b
}

// keyFileUnwrap mixes a key file into an unwrap key:
// HKDF-SHA256(unwrap || SHA-256(key file), "dvpc v1 key file unwrap").
func keyFileUnwrap(unwrap Key, keyFile []byte) Key {
	sum := sha256.Sum256(keyFile)
	return derive(append(unwrap[:], sum[:]...), "dvpc v1 key file unwrap")
}
