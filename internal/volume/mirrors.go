package volume

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// MirrorSet is the volume's set of mirrors, stored in the volume itself so
// that a PC that logs on to any one of them learns all. Each change is a
// new object, "volumes/<id>/mirrors/<version>", written once; the newest
// version that opens is the set. Format (docs/FORMAT.md):
//
//	header   "DVPC" version kind(11)
//	gen      key generation, uint32 BE
//	version  uint64 BE, in the clear so that a copy without keys can tell
//	sealed   seal(meta, body, ad = "dvpc mirrors" || volume id || version)
//
// body: the JSON encoding of MirrorSet.
type MirrorSet struct {
	Version uint64         `json:"-"`
	Quorum  int            `json:"quorum"` // 0: the default, 2 or all when fewer
	Mirrors []MirrorRecord `json:"mirrors"`
}

// MirrorRecord is one mirror of the set.
type MirrorRecord struct {
	ID        string   `json:"id"`        // 16 hex digits, names the mirror's queue
	Endpoints []string `json:"endpoints"` // a folder, a server's URL, s3://HOST:PORT/BUCKET/PREFIX; one or more
	Removable bool     `json:"removable,omitempty"`
	// For a server: the account's user name there and the pinned
	// certificate's fingerprint, if self-signed. Tokens are per device and
	// never stored here.
	User         string `json:"user,omitempty"`
	Fingerprint  string `json:"fingerprint,omitempty"`
	InsecureHTTP bool   `json:"insecure_http,omitempty"`
}

// MirrorsPrefix is where the versions of the mirror set live, under the
// volume.
const MirrorsPrefix = "mirrors/"

func mirrorsAD(vol dvpc.VolumeID, version uint64) []byte {
	b := append([]byte("dvpc mirrors"), vol[:]...)
	return binary.BigEndian.AppendUint64(b, version)
}

// MarshalMirrors seals a version of the set with meta, the meta key of
// generation gen.
func MarshalMirrors(meta *seal.Key, gen uint32, vol dvpc.VolumeID, m *MirrorSet) []byte {
	body, err := json.Marshal(m)
	if err != nil {
		panic(err) // plain data: cannot fail
	}
	b := dvpc.AppendGenHeader(nil, dvpc.KindMirrors, gen)
	b = binary.BigEndian.AppendUint64(b, m.Version)
	return meta.Seal(b, body, mirrorsAD(vol, m.Version))
}

// ParseMirrorsVersion returns the version of a mirror set object, which
// needs no key.
func ParseMirrorsVersion(b []byte) (uint64, error) {
	_, rest, err := dvpc.ParseGenHeader(b, dvpc.KindMirrors)
	if err != nil {
		return 0, err
	}
	if len(rest) < 8 {
		return 0, errors.E(errors.Corrupt, errors.Str("mirror set record too short"))
	}
	return binary.BigEndian.Uint64(rest), nil
}

// ParseMirrors opens a version of the set with meta.
func ParseMirrors(meta *seal.Key, vol dvpc.VolumeID, b []byte) (*MirrorSet, error) {
	const op errors.Op = "volume.ParseMirrors"
	version, err := ParseMirrorsVersion(b)
	if err != nil {
		return nil, errors.E(op, err)
	}
	_, rest, _ := dvpc.ParseGenHeader(b, dvpc.KindMirrors)
	body, err := meta.Open(nil, rest[8:], mirrorsAD(vol, version))
	if err != nil {
		return nil, errors.E(op, err)
	}
	m := &MirrorSet{}
	if err := json.Unmarshal(body, m); err != nil {
		return nil, errors.E(op, errors.Corrupt, errors.Str("mirror set record does not decode"))
	}
	m.Version = version
	if err := m.Validate(); err != nil {
		return nil, errors.E(op, errors.Corrupt, err)
	}
	return m, nil
}

// Validate checks what a set must be: mirrors with distinct ids and at
// least one endpoint each, and a quorum no larger than their number.
func (m *MirrorSet) Validate() error {
	seen := map[string]bool{}
	for _, r := range m.Mirrors {
		if len(r.ID) != 16 || strings.Trim(r.ID, "0123456789abcdef") != "" || seen[r.ID] || len(r.Endpoints) == 0 {
			return errors.E(errors.Invalid, errors.Str("mirror set has a mirror with a bad id or no endpoint"))
		}
		seen[r.ID] = true
	}
	if m.Quorum < 0 || m.Quorum > len(m.Mirrors) {
		return errors.E(errors.Invalid, errors.Str(fmt.Sprintf("write quorum %d is more than the %d mirrors", m.Quorum, len(m.Mirrors))))
	}
	return nil
}

func mirrorsName(version uint64) string { return fmt.Sprintf("%s%016x", MirrorsPrefix, version) }

// Mirrors returns the newest version of the mirror set on the mirror, or
// nil if the volume has none yet (one mirror, the one it was made on).
// Versions that do not open are skipped: only a holder of a volume key can
// write one that does.
func (v *Volume) Mirrors(ctx context.Context) (*MirrorSet, error) {
	return v.MirrorsAfter(ctx, 0)
}

// MirrorsAfter is Mirrors for a PC that knows version known already: it
// returns nil, reading no record, unless a newer version is on the mirror.
// Every command asks, so it costs a listing, not a read.
func (v *Volume) MirrorsAfter(ctx context.Context, known uint64) (*MirrorSet, error) {
	var versions []uint64
	err := v.store.List(ctx, MirrorsPrefix, func(i blob.Info) error {
		n, err := strconv.ParseUint(strings.TrimPrefix(i.Name, MirrorsPrefix), 16, 64)
		if err == nil && len(i.Name) == len(MirrorsPrefix)+16 {
			versions = append(versions, n)
		}
		return nil
	})
	if err != nil {
		return nil, errors.E(errors.Op("volume.Mirrors"), err)
	}
	for i := len(versions) - 1; i >= 0 && versions[i] > known; i-- {
		b, err := v.store.Get(ctx, mirrorsName(versions[i]), 0, -1)
		if err != nil {
			continue
		}
		meta, err := v.metaFor(b)
		if err != nil {
			continue
		}
		if m, err := ParseMirrors(meta, v.cfg.ID, b); err == nil && m.Version == versions[i] {
			return m, nil
		}
	}
	return nil, nil
}

// SetMirrors writes m as the next version of the mirror set.
func (v *Volume) SetMirrors(ctx context.Context, m *MirrorSet) error {
	const op errors.Op = "volume.SetMirrors"
	if err := m.Validate(); err != nil {
		return errors.E(op, err)
	}
	old, err := v.Mirrors(ctx)
	if err != nil {
		return errors.E(op, err)
	}
	m.Version = 1
	if old != nil {
		m.Version = old.Version + 1
	}
	g := v.newest()
	return v.store.Put(ctx, mirrorsName(m.Version), MarshalMirrors(g.keys.Meta, g.keys.Gen, v.cfg.ID, m))
}
