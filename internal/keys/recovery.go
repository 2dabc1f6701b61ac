package keys

import (
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Recovery codes open the master key when the passphrase or the key file
// is lost. A code is 25 characters of Crockford's base32 (digits and
// letters, without I, L, O and U), printed in five groups of five:
//
//	01234-56789-ABCDE-FGHJK-MNPQR
//
// The first 21 characters are random (105 bits); the last 4 are the first
// 20 bits of the SHA-256 of the first 21, so that a typo is caught before
// anything is tried. The code's key K is the SHA-256 of its 25 upper-case
// characters; from K come, by Derive, an auth key for the server
// ("dvpc v1 recovery auth"), the key of its slot ("dvpc v1 recovery
// unwrap"), and the slot's id (the first 8 bytes of "dvpc v1 recovery id").
// No Argon2id is needed: 105 random bits cannot be guessed.
//
// A code works once only where something forgets it: a server deletes the
// code's auth hash when it is used (docs/PROTOCOL.md, /v1/recover), and a
// client removes its slot from the envelope (RemoveRecovery) and writes the
// envelope back. A copy of the envelope from before still opens with the
// code, as an old envelope still opens with an old passphrase.

const (
	recoveryAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ" // Crockford's base32
	recoveryData     = 21                                 // random characters
	recoveryLen      = 25                                 // with the check
	recoveryGroup    = 5                                  // characters between dashes

	// RecoveryCodeBits is the entropy of a recovery code.
	RecoveryCodeBits = 5 * recoveryData
)

// recoveryValue maps an input byte to its character's value, or -1. Lower
// case is upper case; O reads as 0, and I and L as 1 (Crockford).
var recoveryValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i, c := range []byte(recoveryAlphabet) {
		t[c] = int8(i)
		t[c|0x20] = int8(i) // lower case; the digits map onto themselves
	}
	for _, alias := range [][2]byte{{'O', '0'}, {'o', '0'}, {'I', '1'}, {'i', '1'}, {'L', '1'}, {'l', '1'}} {
		t[alias[0]] = t[alias[1]]
	}
	return t
}()

// recoveryAD is the additional data of a recovery slot.
func recoveryAD(id SlotID) []byte { return append([]byte("dvpc account recovery "), id[:]...) }

// recoveryKeys derives the server auth key, the slot key and the slot id
// of a code in canonical form (25 upper-case characters).
func recoveryKeys(code string) (auth, unwrap Key, id SlotID) {
	k := Key(sha256.Sum256([]byte(code)))
	idKey := Derive(k, "dvpc v1 recovery id")
	copy(id[:], idKey[:])
	return Derive(k, "dvpc v1 recovery auth"), Derive(k, "dvpc v1 recovery unwrap"), id
}

// recoveryCheck returns the 4 check characters of the 21 data characters.
func recoveryCheck(data []byte) []byte {
	sum := sha256.Sum256(data)
	v := (uint32(sum[0])<<16 | uint32(sum[1])<<8 | uint32(sum[2])) >> 4
	check := make([]byte, recoveryLen-recoveryData)
	for i := len(check) - 1; i >= 0; i-- {
		check[i] = recoveryAlphabet[v&31]
		v >>= 5
	}
	return check
}

// newRecoveryCode returns a fresh code in canonical form.
func newRecoveryCode() string {
	b := make([]byte, recoveryData, recoveryLen)
	mustRand(b)
	for i := range b {
		b[i] = recoveryAlphabet[b[i]&31] // uniform: 32 divides 256
	}
	return string(append(b, recoveryCheck(b)...))
}

// FormatRecoveryCode prints a canonical code in groups: XXXXX-XXXXX-...
func FormatRecoveryCode(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i += recoveryGroup {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i:min(i+recoveryGroup, len(code))])
	}
	return b.String()
}

// ParseRecoveryCode reads a recovery code as a person types it: in any
// case, with or without dashes and spaces. It returns the canonical form
// (25 upper-case characters), or an error of kind Invalid that says what
// is wrong: a character that is not in codes, a wrong length, or a typo.
func ParseRecoveryCode(s string) (string, error) {
	const op errors.Op = "keys.ParseRecoveryCode"
	b := make([]byte, 0, recoveryLen)
	n := 0
	for _, r := range s {
		if r == '-' || r == ' ' || r == '\t' {
			continue
		}
		if r >= 0x80 || recoveryValue[r] < 0 {
			return "", errors.E(op, errors.Invalid, errors.Str(fmt.Sprintf("%q is not a character of recovery codes: they hold digits and the letters A to Z but U", r)))
		}
		if n++; n <= recoveryLen {
			b = append(b, recoveryAlphabet[recoveryValue[r]])
		}
	}
	if n != recoveryLen {
		return "", errors.E(op, errors.Invalid, errors.Str(fmt.Sprintf("a recovery code has %d characters (five groups of five), not %d", recoveryLen, n)))
	}
	if string(recoveryCheck(b[:recoveryData])) != string(b[recoveryData:]) {
		return "", errors.E(op, errors.Invalid, errors.Str("this recovery code has a typo (its last characters do not match the others): copy it again"))
	}
	return string(b), nil
}

// RecoveryAuth returns the auth key of a recovery code: what a client
// sends a server as code_auth.
func RecoveryAuth(code string) (Key, error) {
	c, err := ParseRecoveryCode(code)
	if err != nil {
		return Key{}, err
	}
	auth, _, _ := recoveryKeys(c)
	return auth, nil
}

// RecoveryHash is what a server is given for a code: the SHA-256 of its
// auth key (docs/PROTOCOL.md, /v1/account/passphrase).
func RecoveryHash(codeAuth Key) Key { return sha256.Sum256(codeAuth[:]) }

// NewRecoveryCodes makes MaxRecovery new recovery codes for master, which
// must be the key this envelope holds, and puts their slots in the
// envelope in place of any older codes' (which stop opening it). It returns
// the codes, printed in groups, and for each the hash a server keeps
// (RecoveryHash of its auth key), in the same order. Show the codes once;
// they are stored nowhere else.
func (a *Account) NewRecoveryCodes(master Key) (codes []string, hashes []Key) {
	var slots []Slot
	if len(a.Slots) > 0 && a.Slots[0].Kind == SlotPassphrase {
		slots = append(slots, a.Slots[0])
	}
	seen := map[SlotID]bool{{}: true}
	for len(codes) < MaxRecovery {
		code := newRecoveryCode()
		auth, unwrap, id := recoveryKeys(code)
		if seen[id] {
			continue // a zero or repeated id: about 2^-60 likely
		}
		seen[id] = true
		sealed := seal.NewKey(unwrap).Seal(nil, master[:], recoveryAD(id))
		slots = append(slots, Slot{Kind: SlotRecovery, ID: id, Sealed: sealed})
		codes = append(codes, FormatRecoveryCode(code))
		hashes = append(hashes, RecoveryHash(auth))
	}
	a.Slots = slots
	return codes, hashes
}

// UnlockRecovery opens the master key with a recovery code. It returns the
// master key, the id of the code's slot (for RemoveRecovery once the code
// is used), and the code's auth key (for a server's /v1/recover).
func (a *Account) UnlockRecovery(code string) (master Key, id SlotID, codeAuth Key, err error) {
	const op errors.Op = "keys.UnlockRecovery"
	c, err := ParseRecoveryCode(code)
	if err != nil {
		return Key{}, SlotID{}, Key{}, err
	}
	auth, unwrap, id := recoveryKeys(c)
	i := a.recoverySlot(id)
	if i < 0 {
		return Key{}, SlotID{}, Key{}, errors.E(op, errors.Permission, errors.Str(
			"this recovery code does not open this account: it was used already, replaced by newer codes, or belongs to another account"))
	}
	pt, err := seal.NewKey(unwrap).Open(nil, a.Slots[i].Sealed, recoveryAD(id))
	if err != nil || len(pt) != Size {
		return Key{}, SlotID{}, Key{}, errors.E(op, errors.Corrupt, errors.Str(
			"the recovery code's slot does not open with it: the account key envelope was altered"))
	}
	return Key(pt), id, auth, nil
}

// RemoveRecovery removes the slot of a used recovery code, and reports
// whether there was one.
func (a *Account) RemoveRecovery(id SlotID) bool {
	i := a.recoverySlot(id)
	if i < 0 {
		return false
	}
	a.Slots = append(a.Slots[:i:i], a.Slots[i+1:]...)
	return true
}

// RecoveryCount returns the number of recovery codes that open the
// envelope.
func (a *Account) RecoveryCount() int {
	n := 0
	for _, s := range a.Slots {
		if s.Kind == SlotRecovery {
			n++
		}
	}
	return n
}

// recoverySlot returns the index of the recovery slot id, or -1.
func (a *Account) recoverySlot(id SlotID) int {
	for i, s := range a.Slots {
		if s.Kind == SlotRecovery && s.ID == id {
			return i
		}
	}
	return -1
}
