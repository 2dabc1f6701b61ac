// Package seal encrypts and authenticates DVPC's objects: chunks, pack
// headers, index objects, journal segments, checkpoints and wrapped keys.
//
// The AEAD is XAES-256-GCM (c2sp.org/XAES-256-GCM): AES-256-GCM under a
// subkey derived from the key and the first 12 bytes of a random 24-byte
// nonce. Every message gets a fresh random nonce, so one key can seal far
// more than the 2^32 messages that plain AES-256-GCM with random nonces
// allows: billions of chunks under one volume key stay safe.
//
// A sealed message is nonce (24 bytes) || ciphertext || tag (16 bytes).
// Callers bind a message to its context with the additional data (the
// object kind, the chunk id, the volume id...), so a mirror cannot swap one
// sealed message for another.
//
// The package never stores keys, never logs, and never returns plaintext
// whose tag did not verify.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"io"

	"github.com/dvpc/dvpc/internal/errors"
)

const (
	// KeySize is the size of a sealing key.
	KeySize = 32
	// NonceSize is the size of the random nonce that starts a sealed message.
	NonceSize = 24
	// TagSize is the size of the authentication tag that ends it.
	TagSize = 16
	// Overhead is what sealing adds to a message.
	Overhead = NonceSize + TagSize
)

// Key seals and opens messages. It is safe for concurrent use.
type Key struct {
	block cipher.Block // AES-256 under the root key, for subkey derivation
	k1    [16]byte     // the CMAC subkey K1 of the root key
	rand  io.Reader    // the nonce source: crypto/rand, or a fixed stream for test vectors
}

// NewKey returns a Key for the 32-byte key k.
func NewKey(k [KeySize]byte) *Key {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // cannot happen: the key size is fixed
	}
	key := &Key{block: block, rand: rand.Reader}
	var l [16]byte
	block.Encrypt(l[:], l[:])
	key.k1 = cmacDouble(l)
	return key
}

// cmacDouble computes the CMAC subkey K1 from L = AES_K(0^128).
func cmacDouble(l [16]byte) [16]byte {
	var k1 [16]byte
	msb := l[0] >> 7
	for i := 0; i < 15; i++ {
		k1[i] = l[i]<<1 | l[i+1]>>7
	}
	k1[15] = l[15] << 1
	k1[15] ^= 0x87 & -msb
	return k1
}

// aead returns the AES-256-GCM instance for the given 24-byte nonce.
func (k *Key) aead(nonce []byte) cipher.AEAD {
	var m1, m2, sub [32]byte
	m1[1], m1[2] = 0x01, 'X'
	m2[1], m2[2] = 0x02, 'X'
	copy(m1[4:16], nonce[:12])
	copy(m2[4:16], nonce[:12])
	subtle.XORBytes(m1[:16], m1[:16], k.k1[:])
	subtle.XORBytes(m2[:16], m2[:16], k.k1[:])
	k.block.Encrypt(sub[:16], m1[:16])
	k.block.Encrypt(sub[16:], m2[:16])
	block, err := aes.NewCipher(sub[:])
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// Seal appends the sealed form of plaintext, bound to ad, to dst.
func (k *Key) Seal(dst, plaintext, ad []byte) []byte {
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(k.rand, nonce[:]); err != nil {
		panic("seal: no randomness: " + err.Error())
	}
	return k.SealWithNonce(dst, nonce, plaintext, ad)
}

// SealInPlace seals the message buf[NonceSize:] in buf's own storage and
// returns the sealed form, the same as Seal(nil, buf[NonceSize:], ad): the
// caller leaves NonceSize bytes before the message, and gives buf the
// capacity for TagSize more after it to spare an allocation.
func (k *Key) SealInPlace(buf, ad []byte) []byte {
	var nonce [NonceSize]byte
	if _, err := io.ReadFull(k.rand, nonce[:]); err != nil {
		panic("seal: no randomness: " + err.Error())
	}
	copy(buf, nonce[:])
	return k.aead(nonce[:]).Seal(buf[:NonceSize], nonce[12:], buf[NonceSize:], ad)
}

// WithNonces returns a copy of k that draws nonces from r. It exists for
// test vectors only: real sealing must use random nonces.
func (k *Key) WithNonces(r io.Reader) *Key {
	c := *k
	c.rand = r
	return &c
}

// SealWithNonce is Seal with a caller-chosen nonce. It exists for test
// vectors; a nonce must never be used twice with one key.
func (k *Key) SealWithNonce(dst []byte, nonce [NonceSize]byte, plaintext, ad []byte) []byte {
	dst = append(dst, nonce[:]...)
	return k.aead(nonce[:]).Seal(dst, nonce[12:], plaintext, ad)
}

// OpenInPlace opens sealed into its own storage and returns the plaintext,
// a sub-slice of sealed. sealed is overwritten, whether or not it opens.
func (k *Key) OpenInPlace(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return k.Open(nil, sealed, ad)
	}
	return k.Open(sealed[NonceSize:NonceSize], sealed, ad)
}

// Open appends the plaintext of sealed to dst. A message that was altered,
// truncated, sealed under another key or bound to other additional data
// fails with errors.Corrupt.
func (k *Key) Open(dst, sealed, ad []byte) ([]byte, error) {
	const op errors.Op = "seal.Open"
	if len(sealed) < Overhead {
		return nil, errors.E(op, errors.Corrupt, errors.Str("sealed message too short"))
	}
	nonce := sealed[:NonceSize]
	out, err := k.aead(nonce).Open(dst, nonce[12:], sealed[NonceSize:], ad)
	if err != nil {
		return nil, errors.E(op, errors.Corrupt, errors.Str("authentication failed: the object was altered or sealed under another key"))
	}
	return out, nil
}
