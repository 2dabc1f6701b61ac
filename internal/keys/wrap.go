package keys

import (
	"encoding/binary"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// WrapVolumeKey seals the key of one key generation of a volume under the
// master key, bound to the volume's id and the generation.
func WrapVolumeKey(master Key, vol dvpc.VolumeID, gen uint32, k Key) []byte {
	return seal.NewKey(master).Seal(nil, k[:], volumeAD(vol, gen))
}

// UnwrapVolumeKey opens a volume key sealed by WrapVolumeKey.
func UnwrapVolumeKey(master Key, vol dvpc.VolumeID, gen uint32, wrapped []byte) (Key, error) {
	pt, err := seal.NewKey(master).Open(nil, wrapped, volumeAD(vol, gen))
	if err != nil || len(pt) != Size {
		return Key{}, errors.E(errors.Op("keys.UnwrapVolumeKey"), errors.Permission,
			errors.Str("the account key does not open this volume's key: the volume belongs to another account, or its config was altered"))
	}
	return Key(pt), nil
}

func volumeAD(vol dvpc.VolumeID, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte("dvpc volume key "), vol[:]...), gen)
}
