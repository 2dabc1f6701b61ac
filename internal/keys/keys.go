// Package keys owns DVPC's key hierarchy: the passphrase is stretched with
// Argon2id into an authentication key (for servers) and an unwrap key (never
// leaves the PC); the unwrap key, mixed with a key file when the account
// asks for one, opens the account's master key; a one-time recovery code
// opens it too; the master key opens each volume's key and derives the
// account's signing key, which signs device records; a volume key derives
// the subkeys that seal data and metadata, key chunk ids and the chunker.
//
// The account envelope (account.go, recovery.go) is the one object of this
// package that a mirror stores; its layout is in docs/FORMAT.md.
//
// It holds keys in memory only. It never writes a file, never logs, and
// never returns a key that did not authenticate.
package keys

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"

	"golang.org/x/crypto/argon2"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Size is the size of every symmetric key.
const Size = 32

// Key is a symmetric key.
type Key = [Size]byte

// Params are the Argon2id cost parameters, stored with each account.
type Params struct {
	Time      uint32 // passes
	MemoryKiB uint32
	Threads   uint8
}

// DefaultParams follow RFC 9106's second recommendation: 64 MiB, 3 passes.
func DefaultParams() Params { return Params{Time: 3, MemoryKiB: 64 << 10, Threads: 4} }

// TestParams are cheap parameters for tests only.
func TestParams() Params { return Params{Time: 1, MemoryKiB: 64, Threads: 1} }

// MaxMemoryKiB bounds what a stored parameter set can make a client spend,
// so a hostile mirror cannot exhaust a PC's memory: 4 GiB.
const MaxMemoryKiB = 4 << 20

// Validate refuses parameters that are too weak to be real or too costly to
// be honest.
func (p Params) Validate() error {
	const op errors.Op = "keys.Params"
	if p.Time < 1 || p.Time > 100 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxMemoryKiB {
		return errors.E(op, errors.Corrupt, errors.Str("implausible Argon2id parameters"))
	}
	return nil
}

// AtLeast reports whether p costs at least as much as q in passes and in
// memory. A client refuses to stretch a passphrase for a server with
// parameters below its floor: a server that asked for cheap ones could
// guess the passphrase cheaply from the auth key.
func (p Params) AtLeast(q Params) bool { return p.Time >= q.Time && p.MemoryKiB >= q.MemoryKiB }

// Stretched is what a passphrase yields.
type Stretched struct {
	Auth   Key // proves the user to a server; the server keeps only a hash
	Unwrap Key // opens the master key; never leaves the PC
}

// Stretch runs Argon2id over the passphrase and splits its output into two
// independent keys with HKDF-SHA256.
func Stretch(passphrase, salt []byte, p Params) Stretched {
	seed := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, Size)
	return Stretched{
		Auth:   Derive(Key(seed), "dvpc v1 auth"),
		Unwrap: Derive(Key(seed), "dvpc v1 unwrap"),
	}
}

// Derive returns the subkey of k for the given purpose (HKDF-SHA256 with an
// empty salt and the purpose as info).
func Derive(k Key, purpose string) Key { return derive(k[:], purpose) }

// derive is Derive for input key material of any length.
func derive(ikm []byte, purpose string) Key {
	out, err := hkdf.Key(sha256.New, ikm, nil, purpose, Size)
	if err != nil {
		panic(err)
	}
	return Key(out)
}

// AccountSigningKey derives the account's Ed25519 signing key from its
// master key: the seed is HKDF-SHA256(master, "dvpc v1 account signing
// key"). It signs the device records of the account's volumes. A device
// keeps only its public half, learned at login, so only the holder of the
// master key (the passphrase, the key file if any, or a recovery code) can
// add a device to a volume.
func AccountSigningKey(master Key) ed25519.PrivateKey {
	seed := Derive(master, "dvpc v1 account signing key")
	return ed25519.NewKeyFromSeed(seed[:])
}

// New returns a fresh random key.
func New() Key {
	var k Key
	mustRand(k[:])
	return k
}

func mustRand(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("keys: no randomness: " + err.Error())
	}
}

// Volume is the set of subkeys of one key generation of a volume. A volume
// starts with generation 1, its volume key; revoking a device adds a
// generation with a fresh random key. Data and Meta come from the
// generation's key; ChunkID, Gear and Local always come from generation 1,
// so that chunk ids and boundaries, and with them dedup, stay the same
// across generations.
type Volume struct {
	Gen     uint32    // the key generation, from 1
	Data    *seal.Key // seals chunks
	Meta    *seal.Key // seals pack headers, index, journal, checkpoints, device records
	ChunkID Key       // keys the BLAKE3 hash that names chunks
	Gear    Key       // keys the chunker's gear table
	Local   *seal.Key // seals the client's local state on a PC
}

// ForVolume derives a volume's subkeys from its key: key generation 1.
func ForVolume(k Key) *Volume {
	return &Volume{
		Gen:     1,
		Data:    seal.NewKey(Derive(k, "dvpc v1 data")),
		Meta:    seal.NewKey(Derive(k, "dvpc v1 meta")),
		ChunkID: Derive(k, "dvpc v1 chunk id"),
		Gear:    Derive(k, "dvpc v1 chunker gear"),
		Local:   seal.NewKey(Derive(k, "dvpc v1 local state")),
	}
}

// Generation returns the subkeys of key generation gen, whose key is k: Data
// and Meta derived from k, the rest those of v (generation 1).
func (v *Volume) Generation(gen uint32, k Key) *Volume {
	g := *v
	g.Gen = gen
	g.Data = seal.NewKey(Derive(k, "dvpc v1 data"))
	g.Meta = seal.NewKey(Derive(k, "dvpc v1 meta"))
	return &g
}
