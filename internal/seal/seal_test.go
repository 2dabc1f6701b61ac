package seal

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/dvpc/dvpc/internal/errors"
)

// The test vectors of c2sp.org/XAES-256-GCM.
func TestXAESVectors(t *testing.T) {
	for _, v := range []struct {
		key      byte
		ad, want string
	}{
		{0x01, "", "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271"},
		{0x03, "c2sp.org/XAES-256-GCM", "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d"},
	} {
		var k [KeySize]byte
		for i := range k {
			k[i] = v.key
		}
		var nonce [NonceSize]byte
		copy(nonce[:], "ABCDEFGHIJKLMNOPQRSTUVWX")
		key := NewKey(k)
		sealed := key.SealWithNonce(nil, nonce, []byte("XAES-256-GCM"), []byte(v.ad))
		if got := hex.EncodeToString(sealed[NonceSize:]); got != v.want {
			t.Errorf("key %#x: got %s, want %s", v.key, got, v.want)
		}
		pt, err := key.Open(nil, sealed, []byte(v.ad))
		if err != nil || string(pt) != "XAES-256-GCM" {
			t.Errorf("key %#x: open = %q, %v", v.key, pt, err)
		}
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	key := NewKey([KeySize]byte{7})
	msg := bytes.Repeat([]byte("secret"), 100)
	sealed := key.Seal(nil, msg, []byte("ad"))
	if len(sealed) != len(msg)+Overhead {
		t.Fatalf("sealed length %d, want %d", len(sealed), len(msg)+Overhead)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 1
		if _, err := key.Open(nil, bad, []byte("ad")); !errors.Is(err, errors.Corrupt) {
			t.Fatalf("flipped byte %d: err = %v, want Corrupt", i, err)
		}
	}
	if _, err := key.Open(nil, sealed, []byte("other")); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("wrong ad: err = %v", err)
	}
	if _, err := NewKey([KeySize]byte{8}).Open(nil, sealed, []byte("ad")); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("wrong key: err = %v", err)
	}
	if _, err := key.Open(nil, sealed[:Overhead-1], nil); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("short: err = %v", err)
	}
}

func TestNoncesDiffer(t *testing.T) {
	key := NewKey([KeySize]byte{1})
	a := key.Seal(nil, []byte("x"), nil)
	b := key.Seal(nil, []byte("x"), nil)
	if bytes.Equal(a[:NonceSize], b[:NonceSize]) {
		t.Fatal("two seals used the same nonce")
	}
}

func FuzzOpen(f *testing.F) {
	key := NewKey([KeySize]byte{9})
	f.Add(key.Seal(nil, []byte("hello"), nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := key.Open(nil, b, nil)
		if err == nil && len(pt) != len(b)-Overhead {
			t.Fatalf("opened %d bytes from %d", len(pt), len(b))
		}
	})
}

func BenchmarkSeal1MiB(b *testing.B) {
	key := NewKey([KeySize]byte{1})
	msg := make([]byte, 1<<20)
	dst := make([]byte, 0, len(msg)+Overhead)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		dst = key.Seal(dst[:0], msg, nil)
	}
}

func BenchmarkOpen1MiB(b *testing.B) {
	key := NewKey([KeySize]byte{1})
	msg := make([]byte, 1<<20)
	sealed := key.Seal(nil, msg, nil)
	dst := make([]byte, 0, len(msg))
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		var err error
		if dst, err = key.Open(dst[:0], sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealSmall(b *testing.B) {
	key := NewKey([KeySize]byte{1})
	msg := make([]byte, 64)
	dst := make([]byte, 0, 256)
	for b.Loop() {
		dst = key.Seal(dst[:0], msg, nil)
	}
}

// SealInPlace gives the bytes Seal gives for the same nonce, and they open.
func TestSealInPlace(t *testing.T) {
	key := NewKey([KeySize]byte{3})
	msg := bytes.Repeat([]byte("in place "), 1000)
	nonces := bytes.Repeat([]byte{0x5a}, 2*NonceSize)
	want := key.WithNonces(bytes.NewReader(nonces)).Seal(nil, msg, []byte("ad"))
	buf := make([]byte, NonceSize+len(msg), NonceSize+len(msg)+TagSize)
	copy(buf[NonceSize:], msg)
	got := key.WithNonces(bytes.NewReader(nonces)).SealInPlace(buf, []byte("ad"))
	if !bytes.Equal(got, want) {
		t.Fatal("SealInPlace differs from Seal")
	}
	if &got[0] != &buf[0] {
		t.Error("SealInPlace allocated although buf had room")
	}
	plain, err := key.Open(nil, got, []byte("ad"))
	if err != nil || !bytes.Equal(plain, msg) {
		t.Fatalf("open: %v", err)
	}
}
