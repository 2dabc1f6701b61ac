package journal

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

// Segment is one sealed, signed batch of a device's entries.
type Segment struct {
	Device  dvpc.DeviceID
	Seq     uint64
	Prev    dvpc.ObjectID // id of segment Seq-1; zero for Seq 1
	Entries []Entry
}

const (
	fixedSize = dvpc.HeaderSize + dvpc.GenSize + 16 + 8 + 32
	sigSize   = ed25519.SignatureSize
	// MaxSegment bounds a segment object and its decoded body.
	MaxSegment = 256 << 20
)

// The segments' coders are made when first used, not at the program's
// start, which every command pays for (half a millisecond for these).
var (
	// A small window: a segment's changes repeat within it, and the
	// default 8 MiB window would keep 16 MiB of history alive for good.
	zenc = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
		return e
	})
	zdec = sync.OnceValue(func() *zstd.Decoder {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxSegment))
		return d
	})
)

// Name returns the object name of a segment with the given bytes.
func Name(dev dvpc.DeviceID, seq uint64, id dvpc.ObjectID) string {
	return fmt.Sprintf("journal/%s/%016x-%s", dev, seq, id)
}

// Marshal seals the segment with meta, the meta key of key generation gen,
// and signs it.
func (s *Segment) Marshal(meta *seal.Key, gen uint32, sign ed25519.PrivateKey) []byte {
	b := dvpc.AppendGenHeader(make([]byte, 0, 1024), dvpc.KindSegment, gen)
	b = append(b, s.Device[:]...)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	b = append(b, s.Prev[:]...)
	ad := append([]byte("dvpc segment"), b...)
	plain := EncodeEntries(s.Entries)
	body := []byte{0}
	if len(plain) > 512 {
		body = zenc().EncodeAll(plain, []byte{1})
	} else {
		body = append(body, plain...)
	}
	b = meta.Seal(b, body, ad)
	return append(b, ed25519.Sign(sign, b)...)
}

// Head is the unsealed, unverified fixed part of a segment: enough to look
// up the signer's key.
type Head struct {
	Gen    uint32 // the key generation that sealed it
	Device dvpc.DeviceID
	Seq    uint64
	Prev   dvpc.ObjectID
}

// ParseHead reads the fixed part of a segment without checking anything else.
func ParseHead(b []byte) (Head, error) {
	const op errors.Op = "journal.ParseHead"
	gen, rest, err := dvpc.ParseGenHeader(b, dvpc.KindSegment)
	if err != nil {
		return Head{}, errors.E(op, err)
	}
	if len(b) < fixedSize+seal.Overhead+sigSize || len(b) > MaxSegment {
		return Head{}, errors.E(op, errors.Corrupt, errors.Str("segment has an impossible size"))
	}
	h := Head{Gen: gen}
	copy(h.Device[:], rest[:16])
	h.Seq = binary.BigEndian.Uint64(rest[16:24])
	copy(h.Prev[:], rest[24:56])
	if h.Seq == 0 || (h.Seq == 1) != h.Prev.IsZero() {
		return Head{}, errors.E(op, errors.Corrupt, errors.Str("segment sequence and chain link disagree"))
	}
	return h, nil
}

// Parse verifies a segment's signature with the device's public key, opens
// it with meta, the meta key of its key generation (Head.Gen), and decodes
// its entries.
func Parse(meta *seal.Key, pub ed25519.PublicKey, b []byte) (*Segment, error) {
	const op errors.Op = "journal.Parse"
	h, err := ParseHead(b)
	if err != nil {
		return nil, err
	}
	signed, sig := b[:len(b)-sigSize], b[len(b)-sigSize:]
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, signed, sig) {
		return nil, errors.E(op, errors.Corrupt, errors.Str("bad signature: the segment was altered or not written by its device"))
	}
	ad := append([]byte("dvpc segment"), b[:fixedSize]...)
	body, err := meta.Open(nil, signed[fixedSize:], ad)
	if err != nil {
		return nil, errors.E(op, err)
	}
	plain, err := decompress(body)
	if err != nil {
		return nil, errors.E(op, errors.Corrupt, err)
	}
	es, err := DecodeEntries(plain)
	if err != nil {
		return nil, errors.E(op, errors.Corrupt, err)
	}
	return &Segment{Device: h.Device, Seq: h.Seq, Prev: h.Prev, Entries: es}, nil
}

func decompress(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return nil, errors.Str("empty segment body")
	}
	switch body[0] {
	case 0:
		return body[1:], nil
	case 1:
		return zdec().DecodeAll(body[1:], nil)
	}
	return nil, errors.Str("unknown compression")
}
