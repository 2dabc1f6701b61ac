package keys

import (
	"bytes"
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
)

func TestAccountRoundTrip(t *testing.T) {
	a, master := NewAccount([]byte("correct horse"), TestParams())
	b, err := ParseAccount(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Unlock([]byte("correct horse"))
	if err != nil || got != master {
		t.Fatalf("unlock = %x, %v", got, err)
	}
	if _, err := b.Unlock([]byte("wrong horse")); !errors.Is(err, errors.Permission) {
		t.Fatalf("wrong passphrase: err = %v, want Permission", err)
	}
}

func TestRewrapRetiresOldPassphrase(t *testing.T) {
	a, master := NewAccount([]byte("old"), TestParams())
	a.Rewrap([]byte("new"), master)
	if _, err := a.Unlock([]byte("old")); err == nil {
		t.Fatal("old passphrase still opens the account")
	}
	if got, err := a.Unlock([]byte("new")); err != nil || got != master {
		t.Fatalf("new passphrase: %v", err)
	}
}

func TestStretchKeysIndependent(t *testing.T) {
	s := Stretch([]byte("p"), []byte("saltsaltsaltsalt"), TestParams())
	if s.Auth == s.Unwrap {
		t.Fatal("auth and unwrap keys are equal")
	}
}

func TestParseAccountRefuses(t *testing.T) {
	a, _ := NewAccount([]byte("p"), TestParams())
	good := a.Marshal()
	newer := bytes.Clone(good)
	newer[4] = dvpc.FormatVersion + 1
	if _, err := ParseAccount(newer); !errors.Is(err, errors.Version) {
		t.Errorf("newer version: err = %v, want Version", err)
	}
	if _, err := ParseAccount(good[:len(good)-1]); !errors.Is(err, errors.Corrupt) {
		t.Errorf("truncated: err = %v, want Corrupt", err)
	}
	huge := bytes.Clone(good)
	huge[10] = 0xff // memory KiB far past MaxMemoryKiB
	if _, err := ParseAccount(huge); !errors.Is(err, errors.Corrupt) {
		t.Errorf("hostile parameters: err = %v, want Corrupt", err)
	}
}

func TestVolumeKeyWrap(t *testing.T) {
	master := New()
	vol := dvpc.NewVolumeID()
	k := New()
	w := WrapVolumeKey(master, vol, k)
	if got, err := UnwrapVolumeKey(master, vol, w); err != nil || got != k {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapVolumeKey(master, dvpc.NewVolumeID(), w); !errors.Is(err, errors.Permission) {
		t.Fatalf("other volume id: err = %v", err)
	}
}

func FuzzParseAccount(f *testing.F) {
	a, _ := NewAccount([]byte("p"), TestParams())
	f.Add(a.Marshal())
	f.Add([]byte("DVPC\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		acc, err := ParseAccount(b)
		if err != nil {
			return
		}
		if !bytes.Equal(acc.Marshal(), b) {
			t.Fatal("parse/marshal not inverse")
		}
	})
}
