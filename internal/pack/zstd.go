package pack

import (
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// zstdLevel is the level chunks are compressed at: zstd's default, which
// stores the bench corpus in fewer bytes than restic does.
const zstdLevel = 3

// An encoder appends the zstd frame of src to dst, or reports that it
// could not (then the chunk is stored as it is). It is safe for concurrent
// use.
type encoder interface {
	encode(dst, src []byte) ([]byte, bool)
}

// newEncoder returns the encoder chunks are sealed with: zstd's own (C)
// where the build has cgo, klauspost/compress's otherwise. Both write
// standard zstd frames, which the Go decoder reads.
var newEncoder = newGoEncoder

// goEncoder is klauspost/compress's zstd encoder.
type goEncoder struct{ enc *zstd.Encoder }

func newGoEncoder() encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(zstdLevel)),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderCRC(false), // the AEAD and the chunk id already verify every byte
		zstd.WithWindowSize(4<<20)) // the default chunk maximum; a larger window costs memory, not ratio
	if err != nil {
		panic(err)
	}
	return goEncoder{enc}
}

func (e goEncoder) encode(dst, src []byte) ([]byte, bool) { return e.enc.EncodeAll(src, dst), true }

// compressBound is the most bytes the zstd frame of n bytes takes
// (ZSTD_COMPRESSBOUND).
func compressBound(n int) int {
	margin := 0
	if n < 128<<10 {
		margin = (128<<10 - n) >> 11
	}
	return n + n>>8 + margin
}
