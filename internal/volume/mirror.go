package volume

import (
	"context"
	"crypto/ed25519"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
)

// AccountObject is the name of the account key envelope on a mirror.
const AccountObject = "account"

// volumePrefix is where a volume's objects live on a mirror.
func volumePrefix(id dvpc.VolumeID) string { return "volumes/" + id.String() + "/" }

// ConfigObject is the name of a volume's config, under its prefix.
const ConfigObject = "volume"

// InitMirror makes a new account with one volume on an empty mirror. It
// refuses a mirror that already holds an account.
func InitMirror(ctx context.Context, root blob.Store, passphrase []byte, kdf keys.Params, name string, now time.Time) (*Config, keys.Key, error) {
	acct, master, _ := keys.NewAccount(passphrase, nil, kdf)
	return InitAccount(ctx, root, acct, master, name, now)
}

// InitAccount is InitMirror for an account envelope the caller made (with
// a key file, or recovery codes): it writes a new volume under master, then
// the envelope.
func InitAccount(ctx context.Context, root blob.Store, acct *keys.Account, master keys.Key, name string, now time.Time) (*Config, keys.Key, error) {
	const op errors.Op = "volume.Init"
	if _, err := root.Stat(ctx, AccountObject); err == nil {
		return nil, keys.Key{}, errors.E(op, errors.Exist, errors.Str("this mirror already holds a DVPC account: use 'dvpc login' to open it"))
	} else if !errors.Is(err, errors.NotExist) {
		return nil, keys.Key{}, errors.E(op, err)
	}
	cfg, vk, err := CreateVolume(ctx, root, master, name, chunk.DefaultParams(), now)
	if err != nil {
		return nil, keys.Key{}, err
	}
	// The account envelope goes last: a mirror with an account is complete.
	if err := root.Put(ctx, AccountObject, acct.Marshal()); err != nil {
		return nil, keys.Key{}, errors.E(op, err)
	}
	return cfg, vk, nil
}

// CreateVolume writes the config of a new volume under the account's master
// key.
func CreateVolume(ctx context.Context, root blob.Store, master keys.Key, name string, p chunk.Params, now time.Time) (*Config, keys.Key, error) {
	vk := keys.New()
	cfg := &Config{ID: dvpc.NewVolumeID(), Name: name, Created: now, Chunk: p, ring: []keys.Key{vk}}
	cfg.setMaster(master)
	cfg.Wrapped = [][]byte{keys.WrapVolumeKey(master, cfg.ID, 1, vk)}
	if err := WriteConfig(ctx, root, cfg, vk); err != nil {
		return nil, keys.Key{}, errors.E(errors.Op("volume.Create"), err)
	}
	return cfg, vk, nil
}

// Unlock reads the account envelope of a mirror and opens the master key
// with the passphrase and, if the account requires one, the key file's
// bytes (nil when it uses none).
func Unlock(ctx context.Context, root blob.Store, passphrase, keyFile []byte) (keys.Key, error) {
	acct, err := ReadAccount(ctx, root)
	if err != nil {
		return keys.Key{}, err
	}
	return acct.Unlock(passphrase, keyFile)
}

// ReadAccount reads and parses the account envelope of a mirror.
func ReadAccount(ctx context.Context, root blob.Store) (*keys.Account, error) {
	const op errors.Op = "volume.ReadAccount"
	b, err := root.Get(ctx, AccountObject, 0, -1)
	if errors.Is(err, errors.NotExist) {
		return nil, errors.E(op, errors.NotExist, errors.Str("no DVPC account on this mirror: is it the right folder? ('dvpc init' makes one)"))
	}
	if err != nil {
		return nil, errors.E(op, err)
	}
	acct, err := keys.ParseAccount(b)
	if err != nil {
		return nil, errors.E(op, AccountObject, err)
	}
	return acct, nil
}

// Volumes lists the volumes of an account on a mirror.
func Volumes(ctx context.Context, root blob.Store, master keys.Key) ([]*Config, []keys.Key, error) {
	var cfgs []*Config
	var vks []keys.Key
	err := root.List(ctx, "volumes/", func(i blob.Info) error {
		if !strings.HasSuffix(i.Name, "/"+ConfigObject) || strings.Count(i.Name, "/") != 2 {
			return nil
		}
		b, err := root.Get(ctx, i.Name, 0, -1)
		if err != nil {
			return err
		}
		c, vk, err := ParseConfig(master, b)
		if err != nil {
			return errors.E(i.Name, err)
		}
		cfgs, vks = append(cfgs, c), append(vks, vk)
		return nil
	})
	if err != nil {
		return nil, nil, errors.E(errors.Op("volume.Volumes"), err)
	}
	return cfgs, vks, nil
}

// Identity is this device: its id, name and signing key. The client keeps
// it in its config; the mirror holds only the public half.
type Identity struct {
	ID   dvpc.DeviceID
	Name string
	Key  ed25519.PrivateKey
}

// MaxDeviceName bounds a device name, in bytes.
const MaxDeviceName = 64

// NewIdentity makes a new device identity. The name is made valid UTF-8
// and cut to MaxDeviceName bytes.
func NewIdentity(name string) Identity {
	name = strings.ToValidUTF8(name, "\uFFFD")
	for len(name) > MaxDeviceName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err)
	}
	return Identity{ID: dvpc.NewDeviceID(), Name: name, Key: priv}
}

// Register writes the device's record to the volume on the mirror, signed
// by the account and sealed under the newest key generation. cfg must have
// been opened with the master key (ParseConfig, CreateVolume): the account
// signing key comes from it, and a device without the passphrase cannot
// register another. When the volume has rotated its keys, the device also
// writes itself a key share of each generation after the first, so that
// Open, given only the volume key, finds them.
func Register(ctx context.Context, root blob.Store, cfg *Config, vk keys.Key, id Identity, now time.Time) error {
	const op errors.Op = "volume.Register"
	ring := cfg.ring
	if len(ring) == 0 || cfg.signer == nil {
		return errors.E(op, errors.Invalid, errors.Str("the volume config was not opened with the master key: only a login can add a device"))
	}
	if ring[0] != vk {
		return errors.E(op, errors.Invalid, errors.Str("the volume key does not match the config"))
	}
	d := &Device{ID: id.ID, Name: id.Name, Public: id.Key.Public().(ed25519.PublicKey),
		X25519: keys.DeviceX25519(id.Key).PublicKey().Bytes(), Created: now}
	d.Sign(cfg.ID, cfg.signer)
	prefix := volumePrefix(cfg.ID)
	for g := 2; g <= len(ring); g++ {
		b, err := sealKeyShare(cfg.ID, uint32(g), d, id, ring[g-1], nil, nil)
		if err != nil {
			return errors.E(op, err)
		}
		if err := root.Put(ctx, prefix+keyShareName(uint32(g), id.ID), b); err != nil {
			return errors.E(op, err)
		}
	}
	n := uint32(len(ring))
	meta := keys.ForVolume(vk).Generation(n, ring[n-1]).Meta
	if err := root.Put(ctx, prefix+"devices/"+id.ID.String(), d.Marshal(meta, n)); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// WriteConfig replaces a volume's config (to rename it), sealed under its
// newest key generation; cfg comes from ParseConfig or CreateVolume.
func WriteConfig(ctx context.Context, root blob.Store, cfg *Config, vk keys.Key) error {
	const op errors.Op = "volume.WriteConfig"
	n := uint32(len(cfg.ring))
	if n == 0 || n != uint32(len(cfg.Wrapped)) || cfg.ring[0] != vk {
		return errors.E(op, errors.Invalid, errors.Str("the config was not opened with the master key"))
	}
	meta := keys.ForVolume(vk).Generation(n, cfg.ring[n-1]).Meta
	if err := root.Put(ctx, volumePrefix(cfg.ID)+ConfigObject, cfg.Marshal(meta)); err != nil {
		return errors.E(op, err)
	}
	return nil
}
