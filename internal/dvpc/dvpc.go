// Package dvpc is the vocabulary of the system: the identifiers that name
// objects, chunks, devices and volumes, and the written contracts that the
// other packages implement.
//
// It imports only the standard library and holds no behaviour beyond
// encoding and comparing its own values.
package dvpc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// FormatVersion is the version of the on-mirror format this build writes.
// A reader refuses any object whose version is newer than this.
const FormatVersion = 1

// ObjectID names an immutable object on a mirror: the SHA-256 of its bytes.
// Anyone, including a mirror without keys, can verify an object by it.
type ObjectID [32]byte

// Hash returns the ObjectID of b.
func Hash(b []byte) ObjectID { return sha256.Sum256(b) }

// String returns the lower-case hex form used in object names.
func (id ObjectID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value.
func (id ObjectID) IsZero() bool { return id == ObjectID{} }

// ParseObjectID parses the 64-character hex form.
func ParseObjectID(s string) (ObjectID, error) {
	var id ObjectID
	if err := parseHex(id[:], s); err != nil {
		return ObjectID{}, fmt.Errorf("object id %q: %w", s, err)
	}
	return id, nil
}

// ChunkID names a chunk of plaintext: a keyed hash of its bytes under the
// volume's chunk-id key, so equal chunks dedup and the id tells an outsider
// nothing about the contents.
type ChunkID [32]byte

// String returns the lower-case hex form.
func (id ChunkID) String() string { return hex.EncodeToString(id[:]) }

// DeviceID names one device (one login on one PC) of a volume.
type DeviceID [16]byte

// NewDeviceID returns a random device id.
func NewDeviceID() DeviceID { var d DeviceID; mustRand(d[:]); return d }

// String returns the lower-case hex form.
func (d DeviceID) String() string { return hex.EncodeToString(d[:]) }

// ParseDeviceID parses the 32-character hex form.
func ParseDeviceID(s string) (DeviceID, error) {
	var d DeviceID
	if err := parseHex(d[:], s); err != nil {
		return DeviceID{}, fmt.Errorf("device id %q: %w", s, err)
	}
	return d, nil
}

// VolumeID names a volume.
type VolumeID [16]byte

// NewVolumeID returns a random volume id.
func NewVolumeID() VolumeID { var v VolumeID; mustRand(v[:]); return v }

// String returns the lower-case hex form.
func (v VolumeID) String() string { return hex.EncodeToString(v[:]) }

// ParseVolumeID parses the 32-character hex form.
func ParseVolumeID(s string) (VolumeID, error) {
	var v VolumeID
	if err := parseHex(v[:], s); err != nil {
		return VolumeID{}, fmt.Errorf("volume id %q: %w", s, err)
	}
	return v, nil
}

func parseHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("want %d hex digits, have %d", 2*len(dst), len(s))
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

func mustRand(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("dvpc: no randomness: " + err.Error())
	}
}

// Kind is the type of an object on a mirror; it is the byte after the
// version in every object's header.
type Kind byte

// The object kinds. docs/FORMAT.md describes each byte by byte.
const (
	KindAccount    Kind = 1  // key envelope: passphrase → master key
	KindVolume     Kind = 2  // volume config: wrapped volume key, parameters
	KindPack       Kind = 3  // pack of sealed chunks with a sealed header
	KindIndex      Kind = 4  // chunk id → pack, offset, length
	KindSegment    Kind = 5  // signed, sealed journal segment
	KindCheckpoint Kind = 6  // sealed snapshot of a merged tree
	KindDevice     Kind = 7  // device record: name, public key
	KindLocal      Kind = 8  // the client's local state (never on a mirror)
	KindRevocation Kind = 9  // a device's revocation: where its journal ends
	KindKeyShare   Kind = 10 // a key generation sealed to one device
	KindMirrors    Kind = 11 // the volume's mirror set, one version of it
	KindStage      Kind = 12 // a mount's local write log (never on a mirror)
)

// Magic starts every object DVPC writes.
const Magic = "DVPC"

// HeaderSize is the size of the common header: magic, version, kind.
const HeaderSize = 6

// AppendHeader appends the common header for kind to b.
func AppendHeader(b []byte, k Kind) []byte {
	return append(append(b, Magic...), FormatVersion, byte(k))
}

// HeaderError says why an object's header was refused. NewerVersion is set
// when the object was written by a newer format version.
type HeaderError struct {
	Reason       string
	NewerVersion bool
}

func (e *HeaderError) Error() string { return e.Reason }

// ParseHeader checks the common header of b and returns the rest.
func ParseHeader(b []byte, want Kind) ([]byte, error) {
	if len(b) < HeaderSize || string(b[:4]) != Magic {
		return nil, &HeaderError{Reason: "not a DVPC object (bad magic)"}
	}
	if b[4] > FormatVersion {
		return nil, &HeaderError{Reason: fmt.Sprintf("written by format version %d; this dvpc reads up to %d: upgrade dvpc", b[4], FormatVersion), NewerVersion: true}
	}
	if b[4] == 0 {
		return nil, &HeaderError{Reason: "bad format version 0"}
	}
	if Kind(b[5]) != want {
		return nil, &HeaderError{Reason: fmt.Sprintf("object kind %d where kind %d was expected", b[5], want)}
	}
	return b[HeaderSize:], nil
}

// GenSize is the size of the key generation that follows the common header
// of every sealed object of a volume: a uint32, big-endian, 1 for the key
// the volume was created with. It says which generation's keys open the
// object.
const GenSize = 4

// AppendGenHeader appends the common header for kind and the key
// generation gen to b.
func AppendGenHeader(b []byte, k Kind, gen uint32) []byte {
	return binary.BigEndian.AppendUint32(AppendHeader(b, k), gen)
}

// ParseGenHeader checks the common header of b and returns the key
// generation that follows it, and the rest.
func ParseGenHeader(b []byte, want Kind) (uint32, []byte, error) {
	rest, err := ParseHeader(b, want)
	if err != nil {
		return 0, nil, err
	}
	if len(rest) < GenSize {
		return 0, nil, &HeaderError{Reason: "object too short for its key generation"}
	}
	gen := binary.BigEndian.Uint32(rest)
	if gen == 0 {
		return 0, nil, &HeaderError{Reason: "bad key generation 0"}
	}
	return gen, rest[GenSize:], nil
}

// Gen returns the key generation of an object with a generation header
// without checking anything else, or 0 when b is too short.
func Gen(b []byte) uint32 {
	if len(b) < HeaderSize+GenSize {
		return 0
	}
	return binary.BigEndian.Uint32(b[HeaderSize:])
}

// ChecksumSize is the size of the checksum that ends the objects that are
// not named by their hash (the account and the volume config).
const ChecksumSize = sha256.Size

// AppendChecksum appends the SHA-256 of b to b. The objects that are not
// named by their hash end with one, so that damage to them is told apart
// from a wrong passphrase or key.
func AppendChecksum(b []byte) []byte {
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// CutChecksum checks the checksum that ends the object b, whose body
// (after the header) is rest, and returns rest without it.
func CutChecksum(b, rest []byte) ([]byte, bool) {
	if len(rest) < ChecksumSize {
		return nil, false
	}
	sum := sha256.Sum256(b[:len(b)-ChecksumSize])
	return rest[:len(rest)-ChecksumSize], string(sum[:]) == string(b[len(b)-ChecksumSize:])
}
