package keys

import (
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// WrapVolumeKey seals a volume key under the master key, bound to the
// volume's id.
func WrapVolumeKey(master Key, vol dvpc.VolumeID, k Key) []byte {
	return seal.NewKey(master).Seal(nil, k[:], volumeAD(vol))
}

// UnwrapVolumeKey opens a volume key sealed by WrapVolumeKey.
func UnwrapVolumeKey(master Key, vol dvpc.VolumeID, wrapped []byte) (Key, error) {
	pt, err := seal.NewKey(master).Open(nil, wrapped, volumeAD(vol))
	if err != nil || len(pt) != Size {
		return Key{}, errors.E(errors.Op("keys.UnwrapVolumeKey"), errors.Permission,
			errors.Str("the account key does not open this volume's key: the volume belongs to another account, or its config was altered"))
	}
	return Key(pt), nil
}

func volumeAD(vol dvpc.VolumeID) []byte { return append([]byte("dvpc volume key "), vol[:]...) }
