package keys

import (
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
	w := WrapVolumeKey(master, vol, k)
	if got, err := UnwrapVolumeKey(master, vol, w); err != nil || got != k {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := UnwrapVolumeKey(master, dvpc.NewVolumeID(), w); !errors.Is(err, errors.Permission) {
		t.Fatalf("other volume id: err = %v", err)
	}
}
