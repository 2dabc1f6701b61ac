package volume

import (
	"crypto/ed25519"
	"encoding/binary"
	"time"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/seal"
)

// Config is a volume's config object, "volumes/<id>/volume":
//
//	header   "DVPC" version kind(2)
//	gen      n, the number of key generations, uint32 BE
//	id       volume id, 16 bytes
//	wrapped  n × 72 bytes: generation g's key sealed under the master key
//	         (keys.WrapVolumeKey), for g = 1..n
//	sealed   seal(meta of generation n, body, ad = "dvpc volume" || id)
//	checksum SHA-256 of every byte before it
//
// body: chunk min, avg, max (uint32 BE each), created (int64 BE, Unix ns),
// name (uvarint length, bytes).
type Config struct {
	ID      dvpc.VolumeID
	Name    string
	Created time.Time
	Chunk   chunk.Params
	Wrapped [][]byte // generation g's key at g-1, sealed under the master key

	// Account is the account's public signing key (keys.AccountSigningKey),
	// which verifies every device record. ParseConfig and CreateVolume
	// derive it from the master key; a device without the master key sets
	// it from what it learned at login. It is not part of the object.
	Account ed25519.PublicKey

	ring   []keys.Key         // the keys of the generations, when opened with the master key
	signer ed25519.PrivateKey // the account signing key, when opened with the master key
}

// setMaster records what the master key gives a config: the account's
// signing key and its public half.
func (c *Config) setMaster(master keys.Key) {
	c.signer = keys.AccountSigningKey(master)
	c.Account = c.signer.Public().(ed25519.PublicKey)
}

// Marshal seals the config under meta, the meta key of its newest key
// generation.
func (c *Config) Marshal(meta *seal.Key) []byte {
	b := dvpc.AppendGenHeader(nil, dvpc.KindVolume, uint32(len(c.Wrapped)))
	b = append(b, c.ID[:]...)
	for _, w := range c.Wrapped {
		b = append(b, w...)
	}
	var body []byte
	body = binary.BigEndian.AppendUint32(body, c.Chunk.Min)
	body = binary.BigEndian.AppendUint32(body, c.Chunk.Avg)
	body = binary.BigEndian.AppendUint32(body, c.Chunk.Max)
	body = binary.BigEndian.AppendUint64(body, uint64(c.Created.UnixNano()))
	body = binary.AppendUvarint(body, uint64(len(c.Name)))
	body = append(body, c.Name...)
	return dvpc.AppendChecksum(meta.Seal(b, body, configAD(c.ID)))
}

func configAD(id dvpc.VolumeID) []byte { return append([]byte("dvpc volume"), id[:]...) }

const wrappedSize = keys.Size + seal.Overhead

// MaxGenerations bounds the key generations a config may hold.
const MaxGenerations = 1 << 16

// cutConfig checks a config's header and checksum and splits it into the
// volume id, the wrapped keys and the sealed body.
func cutConfig(b []byte) (dvpc.VolumeID, [][]byte, []byte, error) {
	n, rest, err := dvpc.ParseGenHeader(b, dvpc.KindVolume)
	if err != nil {
		return dvpc.VolumeID{}, nil, nil, err
	}
	rest, ok := dvpc.CutChecksum(b, rest)
	if !ok {
		return dvpc.VolumeID{}, nil, nil, errors.E(errors.Corrupt, errors.Str("the volume config is damaged (its checksum does not match): restore it from another mirror"))
	}
	if n > MaxGenerations || len(rest) < 16+int(n)*wrappedSize+seal.Overhead {
		return dvpc.VolumeID{}, nil, nil, errors.E(errors.Corrupt, errors.Str("volume config too short"))
	}
	id := dvpc.VolumeID(rest[:16])
	rest = rest[16:]
	wrapped := make([][]byte, n)
	for i := range wrapped {
		wrapped[i] = append([]byte(nil), rest[:wrappedSize]...)
		rest = rest[wrappedSize:]
	}
	return id, wrapped, rest, nil
}

// ParseConfig opens a config with the master key, returning it and the
// volume key (generation 1). The config holds the keys of every
// generation, for Open and Register.
func ParseConfig(master keys.Key, b []byte) (*Config, keys.Key, error) {
	const op errors.Op = "volume.ParseConfig"
	id, wrapped, sealed, err := cutConfig(b)
	if err != nil {
		return nil, keys.Key{}, errors.E(op, "volume", err)
	}
	c := &Config{ID: id, Wrapped: wrapped}
	c.setMaster(master)
	for i, w := range wrapped {
		k, err := keys.UnwrapVolumeKey(master, c.ID, uint32(i+1), w)
		if err != nil {
			return nil, keys.Key{}, errors.E(op, err)
		}
		c.ring = append(c.ring, k)
	}
	meta := keys.ForVolume(c.ring[0]).Generation(uint32(len(c.ring)), c.ring[len(c.ring)-1]).Meta
	body, err := meta.Open(nil, sealed, configAD(c.ID))
	if err != nil {
		return nil, keys.Key{}, errors.E(op, "volume", err)
	}
	if len(body) < 21 {
		return nil, keys.Key{}, errors.E(op, errors.Corrupt, "volume", errors.Str("volume config body too short"))
	}
	c.Chunk = chunk.Params{Min: binary.BigEndian.Uint32(body), Avg: binary.BigEndian.Uint32(body[4:]), Max: binary.BigEndian.Uint32(body[8:])}
	c.Created = time.Unix(0, int64(binary.BigEndian.Uint64(body[12:])))
	n, k := binary.Uvarint(body[20:])
	if k <= 0 || n != uint64(len(body)-20-k) {
		return nil, keys.Key{}, errors.E(op, errors.Corrupt, "volume", errors.Str("bad volume name"))
	}
	c.Name = string(body[20+k:])
	if err := c.Chunk.Validate(); err != nil {
		return nil, keys.Key{}, errors.E(op, errors.Corrupt, "volume", err)
	}
	return c, c.ring[0], nil
}

// checkConfig verifies what a device without the master key can of a
// volume config: its header, its volume id and its sealed body. The wrapped
// volume keys are checked by the next login.
func (v *Volume) checkConfig(b []byte) error {
	id, _, sealed, err := cutConfig(b)
	if err != nil {
		return err
	}
	if id != v.cfg.ID {
		return errors.E(errors.Corrupt, errors.Str("volume config names another volume"))
	}
	meta, err := v.metaFor(b)
	if err != nil {
		return err
	}
	_, err = meta.Open(nil, sealed, configAD(id))
	return err
}

// Device is a device record, "volumes/<id>/devices/<device id>":
//
//	header   "DVPC" version kind(7)
//	gen      key generation, uint32 BE
//	device   device id, 16 bytes
//	sealed   seal(meta, body, ad = "dvpc device" || device id)
//
// body: public key (32 bytes, Ed25519), X25519 public key (32 bytes, for
// key shares), created (int64 BE, Unix ns), the account's signature (64
// bytes, Ed25519 by keys.AccountSigningKey over the message of
// Device.signed), name (the
// rest, at most 256 bytes).
//
// The signature is what makes a record a device of the volume: the volume
// key opens the seal, but only the master key signs, so a device (or a
// thief of one) that holds the volume key cannot add a device.
type Device struct {
	ID      dvpc.DeviceID
	Name    string
	Public  ed25519.PublicKey
	X25519  []byte // derived from the device's Ed25519 seed (keys.DeviceX25519)
	Created time.Time
	Sig     []byte // the account's signature (Sign, Verify)
}

const (
	deviceSignedLabel = "dvpc account device record"
	deviceFixed       = 32 + 32 + 8 + ed25519.SignatureSize // the body before the name
	maxDeviceNameRaw  = 256                                 // the longest name a record may hold
)

func deviceAD(id dvpc.DeviceID) []byte { return append([]byte("dvpc device"), id[:]...) }

// signed is the message the account signs: "dvpc account device
// record" || volume id || device id || public key || X25519 public key ||
// created (int64 BE) || name.
func (d *Device) signed(vol dvpc.VolumeID) []byte {
	b := append([]byte(deviceSignedLabel), vol[:]...)
	b = append(b, d.ID[:]...)
	b = append(b, d.Public...)
	b = append(b, d.X25519...)
	b = binary.BigEndian.AppendUint64(b, uint64(d.Created.UnixNano()))
	return append(b, d.Name...)
}

// Sign signs the record, for volume vol, with the account's signing key.
func (d *Device) Sign(vol dvpc.VolumeID, account ed25519.PrivateKey) {
	d.Sig = ed25519.Sign(account, d.signed(vol))
}

// Verify checks the account's signature of the record for volume vol.
func (d *Device) Verify(vol dvpc.VolumeID, account ed25519.PublicKey) bool {
	return len(account) == ed25519.PublicKeySize && len(d.Public) == ed25519.PublicKeySize &&
		len(d.X25519) == 32 && ed25519.Verify(account, d.signed(vol), d.Sig)
}

// Marshal seals the record with meta, the meta key of key generation gen.
// The record must be signed (Sign).
func (d *Device) Marshal(meta *seal.Key, gen uint32) []byte {
	if len(d.Sig) != ed25519.SignatureSize {
		panic("volume: device record not signed by the account")
	}
	b := dvpc.AppendGenHeader(nil, dvpc.KindDevice, gen)
	b = append(b, d.ID[:]...)
	body := append([]byte(nil), d.Public...)
	body = append(body, d.X25519...)
	body = binary.BigEndian.AppendUint64(body, uint64(d.Created.UnixNano()))
	body = append(body, d.Sig...)
	body = append(body, d.Name...)
	return meta.Seal(b, body, deviceAD(d.ID))
}

// ParseDevice opens a device record with meta, the meta key of its key
// generation (bytes 6-9). It does not check the account's signature: the
// caller does, with Verify.
func ParseDevice(meta *seal.Key, b []byte) (*Device, error) {
	const op errors.Op = "volume.ParseDevice"
	_, rest, err := dvpc.ParseGenHeader(b, dvpc.KindDevice)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(rest) < 16 {
		return nil, errors.E(op, errors.Corrupt, errors.Str("device record too short"))
	}
	d := &Device{}
	copy(d.ID[:], rest)
	body, err := meta.Open(nil, rest[16:], deviceAD(d.ID))
	if err != nil {
		return nil, errors.E(op, err)
	}
	if len(body) < deviceFixed || len(body) > deviceFixed+maxDeviceNameRaw {
		return nil, errors.E(op, errors.Corrupt, errors.Str("device record has a bad length"))
	}
	d.Public = ed25519.PublicKey(append([]byte(nil), body[:32]...))
	d.X25519 = append([]byte(nil), body[32:64]...)
	d.Created = time.Unix(0, int64(binary.BigEndian.Uint64(body[64:])))
	d.Sig = append([]byte(nil), body[72:deviceFixed]...)
	d.Name = string(body[deviceFixed:])
	return d, nil
}

// errUnsigned is the error of a device record the account did not sign.
func errUnsigned() error {
	return errors.E(errors.Corrupt, errors.Str(
		"device record is not signed by the account: a device was added without the passphrase (a stolen device's volume key, or a forged object); remove the object"))
}
