package keys

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
)

func TestStretchKeysIndependent(t *testing.T) {
	s := Stretch([]byte("p"), []byte("saltsaltsaltsalt"), TestParams())
	if s.Auth == s.Unwrap {
		t.Fatal("auth and unwrap keys are equal")
	}
}

func TestVolumeKeyWrap(t *testing.T) {
	master := New()
	vol := dvpc.NewVolumeID()
	k := New()
	w := WrapVolumeKey(master, vol, 1, k)
	if got, err := UnwrapVolumeKey(master, vol, 1, w); err != nil || got != k {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapVolumeKey(master, dvpc.NewVolumeID(), 1, w); !errors.Is(err, errors.Permission) {
		t.Fatalf("other volume id: err = %v", err)
	}
}

// A key share opens only with the recipient's X25519 key and the same
// additional data, and only to the key sealed.
func TestKeyShare(t *testing.T) {
	alice, bob := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))
	k := New()
	share, err := SealShare(DeviceX25519(alice).PublicKey().Bytes(), k, []byte("ad"))
	if err != nil || len(share) != ShareSize {
		t.Fatalf("share of %d bytes, %v", len(share), err)
	}
	if got, err := OpenShare(DeviceX25519(alice), share, []byte("ad")); err != nil || got != k {
		t.Fatalf("recipient opens %x, %v", got, err)
	}
	if _, err := OpenShare(DeviceX25519(bob), share, []byte("ad")); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("another device opens the share: %v", err)
	}
	if _, err := OpenShare(DeviceX25519(alice), share, []byte("other")); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("the share opens with other additional data: %v", err)
	}
	if DeviceX25519(alice).Equal(DeviceX25519(bob)) || !DeviceX25519(alice).Equal(DeviceX25519(alice)) {
		t.Fatal("X25519 keys are not derived from the Ed25519 seed")
	}
}

// The account signing key is a function of the master key alone, and its
// seed is none of the master key's other subkeys.
func TestAccountSigningKey(t *testing.T) {
	master := New()
	k := AccountSigningKey(master)
	if !k.Equal(AccountSigningKey(master)) {
		t.Fatal("the account signing key is not derived deterministically")
	}
	if k.Equal(AccountSigningKey(New())) {
		t.Fatal("two master keys give one account signing key")
	}
	want := Derive(master, "dvpc v1 account signing key")
	if !bytes.Equal(k.Seed(), want[:]) {
		t.Fatalf("seed %x, want HKDF(master, label) %x", k.Seed(), want)
	}
	msg := []byte("device record")
	if !ed25519.Verify(k.Public().(ed25519.PublicKey), msg, ed25519.Sign(k, msg)) {
		t.Fatal("signature does not verify")
	}
}
