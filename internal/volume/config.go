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
//	id       volume id, 16 bytes
//	wrapped  volume key sealed under the master key (keys.WrapVolumeKey), 72 bytes
//	sealed   seal(meta, body, ad = "dvpc volume" || id)
//	checksum SHA-256 of every byte before it
//
// body: chunk min, avg, max (uint32 BE each), created (int64 BE, Unix ns),
// name (uvarint length, bytes).
type Config struct {
	ID      dvpc.VolumeID
	Name    string
	Created time.Time
	Chunk   chunk.Params
	Wrapped []byte
}

// Marshal seals the config under the volume's meta key.
func (c *Config) Marshal(meta *seal.Key) []byte {
	b := dvpc.AppendHeader(nil, dvpc.KindVolume)
	b = append(b, c.ID[:]...)
	b = append(b, c.Wrapped...)
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

// ParseConfig opens a config with the master key, returning it and the
// volume key.
func ParseConfig(master keys.Key, b []byte) (*Config, keys.Key, error) {
	const op errors.Op = "volume.ParseConfig"
	rest, err := dvpc.ParseHeader(b, dvpc.KindVolume)
	if err != nil {
		return nil, keys.Key{}, errors.E(op, "volume", err)
	}
	rest, ok := dvpc.CutChecksum(b, rest)
	if !ok {
		return nil, keys.Key{}, errors.E(op, errors.Corrupt, "volume", errors.Str("the volume config is damaged (its checksum does not match): restore it from another mirror"))
	}
	if len(rest) < 16+wrappedSize+seal.Overhead {
		return nil, keys.Key{}, errors.E(op, errors.Corrupt, "volume", errors.Str("volume config too short"))
	}
	c := &Config{}
	copy(c.ID[:], rest)
	c.Wrapped = append([]byte(nil), rest[16:16+wrappedSize]...)
	vk, err := keys.UnwrapVolumeKey(master, c.ID, c.Wrapped)
	if err != nil {
		return nil, keys.Key{}, errors.E(op, err)
	}
	body, err := keys.ForVolume(vk).Meta.Open(nil, rest[16+wrappedSize:], configAD(c.ID))
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
	return c, vk, nil
}

// checkConfig verifies what a device without the master key can of a
// volume config: its header, its volume id and its sealed body. The wrapped
// volume key is checked by the next login.
func checkConfig(id dvpc.VolumeID, meta *seal.Key, b []byte) error {
	rest, err := dvpc.ParseHeader(b, dvpc.KindVolume)
	if err != nil {
		return err
	}
	rest, ok := dvpc.CutChecksum(b, rest)
	if !ok {
		return errors.E(errors.Corrupt, errors.Str("the volume config is damaged (its checksum does not match)"))
	}
	if len(rest) < 16+wrappedSize || dvpc.VolumeID(rest[:16]) != id {
		return errors.E(errors.Corrupt, errors.Str("volume config names another volume or is too short"))
	}
	_, err = meta.Open(nil, rest[16+wrappedSize:], configAD(id))
	return err
}

// Device is a device record, "volumes/<id>/devices/<device id>":
//
//	header   "DVPC" version kind(7)
//	device   device id, 16 bytes
//	sealed   seal(meta, body, ad = "dvpc device" || device id)
//
// body: public key (32 bytes, Ed25519), created (int64 BE, Unix ns), name
// (the rest).
type Device struct {
	ID      dvpc.DeviceID
	Name    string
	Public  ed25519.PublicKey
	Created time.Time
}

func deviceAD(id dvpc.DeviceID) []byte { return append([]byte("dvpc device"), id[:]...) }

// Marshal seals the record.
func (d *Device) Marshal(meta *seal.Key) []byte {
	b := dvpc.AppendHeader(nil, dvpc.KindDevice)
	b = append(b, d.ID[:]...)
	body := append([]byte(nil), d.Public...)
	body = binary.BigEndian.AppendUint64(body, uint64(d.Created.UnixNano()))
	body = append(body, d.Name...)
	return meta.Seal(b, body, deviceAD(d.ID))
}

// ParseDevice opens a device record.
func ParseDevice(meta *seal.Key, b []byte) (*Device, error) {
	const op errors.Op = "volume.ParseDevice"
	rest, err := dvpc.ParseHeader(b, dvpc.KindDevice)
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
	if len(body) < ed25519.PublicKeySize+8 || len(body) > ed25519.PublicKeySize+8+256 {
		return nil, errors.E(op, errors.Corrupt, errors.Str("device record has a bad length"))
	}
	d.Public = ed25519.PublicKey(append([]byte(nil), body[:32]...))
	d.Created = time.Unix(0, int64(binary.BigEndian.Uint64(body[32:])))
	d.Name = string(body[40:])
	return d, nil
}
