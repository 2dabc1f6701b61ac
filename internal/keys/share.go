package keys

import (
	"crypto/ecdh"
	"crypto/ed25519"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// A key share carries a volume key generation to one device without the
// passphrase: the key is sealed to the device's X25519 public key
// (ephemeral-static X25519, then HKDF-SHA256, then the seal AEAD). A
// device's X25519 key pair is derived from its Ed25519 seed, so a device
// keeps one secret; the public half is in its device record.

// ShareSize is the size of a sealed key share: the ephemeral X25519 public
// key, then the key sealed.
const ShareSize = 32 + Size + seal.Overhead

// DeviceX25519 derives a device's X25519 private key from its Ed25519 key.
func DeviceX25519(priv ed25519.PrivateKey) *ecdh.PrivateKey {
	k := derive(priv.Seed(), "dvpc v1 device x25519")
	x, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		panic(err) // cannot happen: every 32-byte string is an X25519 key
	}
	return x
}

// shareKey is the key that seals a share: HKDF over the X25519 shared
// secret, the ephemeral public key and the recipient's public key.
func shareKey(secret, eph, to []byte) *seal.Key {
	ikm := append(append(append([]byte(nil), secret...), eph...), to...)
	return seal.NewKey(derive(ikm, "dvpc v1 key share"))
}

// SealShare seals k to the X25519 public key to, bound to ad. The result
// is ShareSize bytes.
func SealShare(to []byte, k Key, ad []byte) ([]byte, error) {
	return SealShareWith(to, New(), k, ad, nil)
}

// SealShareWith is SealShare with a caller-chosen ephemeral key and, when
// sealer is set, nonce source. It exists for test vectors: real shares use
// SealShare's fresh ephemeral key.
func SealShareWith(to []byte, ephKey, k Key, ad []byte, sealer func(*seal.Key) *seal.Key) ([]byte, error) {
	const op errors.Op = "keys.SealShare"
	pub, err := ecdh.X25519().NewPublicKey(to)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(ephKey[:])
	if err != nil {
		panic(err) // cannot happen: every 32-byte string is an X25519 key
	}
	secret, err := eph.ECDH(pub)
	if err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	epub := eph.PublicKey().Bytes()
	sk := shareKey(secret, epub, to)
	if sealer != nil {
		sk = sealer(sk)
	}
	return sk.Seal(epub, k[:], ad), nil
}

// OpenShare opens a share sealed to priv's public key.
func OpenShare(priv *ecdh.PrivateKey, share, ad []byte) (Key, error) {
	const op errors.Op = "keys.OpenShare"
	if len(share) != ShareSize {
		return Key{}, errors.E(op, errors.Corrupt, errors.Str("key share has a bad length"))
	}
	epub, err := ecdh.X25519().NewPublicKey(share[:32])
	if err != nil {
		return Key{}, errors.E(op, errors.Corrupt, err)
	}
	secret, err := priv.ECDH(epub)
	if err != nil {
		return Key{}, errors.E(op, errors.Corrupt, err)
	}
	pt, err := shareKey(secret, share[:32], priv.PublicKey().Bytes()).Open(nil, share[32:], ad)
	if err != nil {
		return Key{}, errors.E(op, err)
	}
	return Key(pt), nil
}
