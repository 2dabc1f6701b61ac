package keys

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
)

var pass = []byte("correct horse")

func TestAccountRoundTrip(t *testing.T) {
	a, master, auth := NewAccount(pass, nil, TestParams())
	raw := a.Marshal()
	if len(raw) != AccountSize(1) || len(raw) != 146 {
		t.Fatalf("envelope of %d bytes, want %d", len(raw), AccountSize(1))
	}
	b, err := ParseAccount(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Unlock(pass, nil); err != nil || got != master {
		t.Fatalf("unlock = %x, %v", got, err)
	}
	if b.Stretch(pass).Auth != auth || Stretch(pass, b.Salt[:], b.Params).Auth != auth {
		t.Fatal("the auth key NewAccount returns is not the passphrase's")
	}
	_, err = b.Unlock([]byte("wrong horse"), nil)
	if !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), "wrong passphrase:") {
		t.Fatalf("wrong passphrase: err = %v, want Permission naming the passphrase", err)
	}
	if got, err := b.UnlockWith(Stretch(pass, b.Salt[:], b.Params).Unwrap, nil); err != nil || got != master {
		t.Fatalf("UnlockWith = %v", err)
	}
}

func TestKeyFile(t *testing.T) {
	file := NewKeyFile()
	a, master, auth := NewAccount(pass, file, TestParams())
	a, err := ParseAccount(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !a.KeyFileRequired() {
		t.Fatal("KeyFileRequired = false")
	}
	if got, err := a.Unlock(pass, bytes.Clone(file)); err != nil || got != master {
		t.Fatalf("unlock with the key file: %v", err)
	}
	if Stretch(pass, a.Salt[:], a.Params).Auth != auth {
		t.Error("the key file changed the auth key: a server login would need it")
	}
	_, err = a.Unlock(pass, nil)
	if !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), "key file") || strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("missing key file: err = %v, want Permission that asks for the key file", err)
	}
	for name, f := range map[string][]byte{"wrong": NewKeyFile(), "truncated": file[:31], "longer": append(bytes.Clone(file), 0)} {
		_, err = a.Unlock(pass, f)
		if !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), "wrong passphrase or key file") {
			t.Errorf("%s key file: err = %v, want Permission for the passphrase or key file", name, err)
		}
	}
	_, err = a.Unlock([]byte("wrong"), file)
	if !errors.Is(err, errors.Permission) {
		t.Errorf("wrong passphrase, right key file: err = %v", err)
	}

	plain, _, _ := NewAccount(pass, nil, TestParams())
	if _, err := plain.Unlock(pass, file); !errors.Is(err, errors.Invalid) || !strings.Contains(err.Error(), "no key file") {
		t.Errorf("a key file for an account without one: err = %v, want Invalid", err)
	}
}

// A cleared key file flag does not let the passphrase alone open the key.
func TestKeyFileFlagCleared(t *testing.T) {
	a, _, _ := NewAccount(pass, NewKeyFile(), TestParams())
	a.Flags = 0
	b, err := ParseAccount(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Unlock(pass, nil); !errors.Is(err, errors.Permission) {
		t.Fatalf("flag cleared by a mirror: err = %v, want Permission", err)
	}
}

func TestRewrap(t *testing.T) {
	a, master, _ := NewAccount([]byte("old"), nil, TestParams())
	codes, _ := a.NewRecoveryCodes(master)
	oldSalt := a.Salt
	file := NewKeyFile()
	auth := a.Rewrap([]byte("new"), file, master)
	a, err := ParseAccount(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if a.Salt == oldSalt {
		t.Error("Rewrap kept the salt")
	}
	if a.Stretch([]byte("new")).Auth != auth {
		t.Error("Rewrap returned another auth key")
	}
	if _, err := a.Unlock([]byte("old"), file); !errors.Is(err, errors.Permission) {
		t.Errorf("old passphrase: err = %v", err)
	}
	if got, err := a.Unlock([]byte("new"), file); err != nil || got != master {
		t.Errorf("new passphrase: %v", err)
	}
	if a.RecoveryCount() != MaxRecovery {
		t.Fatalf("%d recovery codes after Rewrap, want %d", a.RecoveryCount(), MaxRecovery)
	}
	for _, c := range codes {
		if got, _, _, err := a.UnlockRecovery(c); err != nil || got != master {
			t.Errorf("code %s after Rewrap: %v", c, err)
		}
	}
	a.Rewrap([]byte("newer"), nil, master)
	if a.KeyFileRequired() {
		t.Error("Rewrap without a key file still requires one")
	}
	if got, err := a.Unlock([]byte("newer"), nil); err != nil || got != master {
		t.Errorf("after dropping the key file: %v", err)
	}
}

// resum recomputes the checksum of an altered envelope, so that a test
// reaches the check after it.
func resum(b []byte) []byte {
	n := len(b) - dvpc.ChecksumSize
	sum := sha256.Sum256(b[:n])
	return append(b[:n:n], sum[:]...)
}

func TestParseAccountRefuses(t *testing.T) {
	a, master, _ := NewAccount(pass, nil, TestParams())
	a.NewRecoveryCodes(master)
	good := a.Marshal()
	if _, err := ParseAccount(good); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return resum(f(bytes.Clone(good))) }
	const count = dvpc.HeaderSize + accountHead - 1
	twelve := edit(func(b []byte) []byte {
		b[count] = maxSlots + 1
		extra := bytes.Clone(b[count+1+slotSize : count+1+2*slotSize])
		extra[1] ^= 0xff // a distinct id
		return append(b[:len(b)-dvpc.ChecksumSize], append(extra, make([]byte, dvpc.ChecksumSize)...)...)
	})
	if len(twelve) != AccountSize(maxSlots+1) {
		t.Fatalf("test envelope of %d bytes", len(twelve))
	}
	cases := []struct {
		name string
		b    []byte
		kind errors.Kind
		msg  string
	}{
		{"newer version", func() []byte { b := bytes.Clone(good); b[4] = dvpc.FormatVersion + 1; return b }(), errors.Version, "upgrade"},
		{"truncated", good[:len(good)-1], errors.Corrupt, "checksum"},
		{"truncated, checksum fixed", resum(bytes.Clone(good[:len(good)-1])), errors.Corrupt, "bytes"},
		{"bad checksum", func() []byte { b := bytes.Clone(good); b[40] ^= 1; return b }(), errors.Corrupt, "checksum"},
		{"too short", resum(bytes.Clone(good[:dvpc.HeaderSize+10+dvpc.ChecksumSize])), errors.Corrupt, "too short"},
		{"twelve slots", twelve, errors.Corrupt, "12 key slots"},
		{"255 slots", edit(func(b []byte) []byte { b[count] = 255; return b }), errors.Corrupt, "255 key slots"},
		{"no slot", resum(append(append(bytes.Clone(good[:count]), 0), make([]byte, dvpc.ChecksumSize)...)), errors.Corrupt, "0 key slots"},
		{"count above length", edit(func(b []byte) []byte { b[count] = 10; return b }), errors.Corrupt, "bytes"},
		{"hostile parameters", edit(func(b []byte) []byte { b[10] = 0xff; return b }), errors.Corrupt, "Argon2id"},
		{"unknown flag", edit(func(b []byte) []byte { b[count-1] = 2; return b }), errors.Corrupt, "flags"},
		{"passphrase slot not first", edit(func(b []byte) []byte { b[count+1] = byte(SlotRecovery); return b }), errors.Corrupt, "passphrase slot"},
		{"passphrase slot with an id", edit(func(b []byte) []byte { b[count+2] = 1; return b }), errors.Corrupt, "passphrase slot"},
		{"unknown slot kind", edit(func(b []byte) []byte { b[count+1+slotSize] = 3; return b }), errors.Corrupt, "kind 3"},
		{"second passphrase slot", edit(func(b []byte) []byte { b[count+1+slotSize] = 1; return b }), errors.Corrupt, "kind 1"},
		{"repeated id", edit(func(b []byte) []byte {
			copy(b[count+2+2*slotSize:][:8], b[count+2+slotSize:][:8])
			return b
		}), errors.Corrupt, "repeated"},
		{"zero id", edit(func(b []byte) []byte { clear(b[count+2+slotSize:][:8]); return b }), errors.Corrupt, "zero"},
	}
	for _, c := range cases {
		_, err := ParseAccount(c.b)
		if !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: err = %v, want %v saying %q", c.name, err, c.kind, c.msg)
		}
	}
}

func FuzzParseAccount(f *testing.F) {
	a, master, _ := NewAccount(pass, nil, TestParams())
	f.Add(a.Marshal())
	b, _, _ := NewAccount(pass, NewKeyFile(), TestParams())
	b.NewRecoveryCodes(master)
	f.Add(b.Marshal())
	f.Add([]byte("DVPC\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		acc, err := ParseAccount(b)
		if err != nil {
			return
		}
		if !bytes.Equal(acc.Marshal(), b) {
			t.Fatal("parse/marshal not inverse")
		}
		if len(acc.Slots) > maxSlots || acc.Slots[0].Kind != SlotPassphrase {
			t.Fatalf("parsed %d slots", len(acc.Slots))
		}
	})
}
