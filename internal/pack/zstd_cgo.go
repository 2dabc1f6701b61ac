//go:build cgo

package pack

/*
#include <stdlib.h>

// The few functions of zstd's C library this file calls, compiled in by
// github.com/DataDog/zstd (imported below for that alone). The static
// context is in the library's "experimental" section, stable since 1.3.
typedef struct ZSTD_CCtx_s ZSTD_CCtx;
size_t ZSTD_estimateCCtxSize(int maxCompressionLevel);
ZSTD_CCtx* ZSTD_initStaticCCtx(void* workspace, size_t workspaceSize);
size_t ZSTD_compressCCtx(ZSTD_CCtx* cctx, void* dst, size_t dstCapacity,
	const void* src, size_t srcSize, int compressionLevel);
unsigned ZSTD_isError(size_t code);
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"

	_ "github.com/DataDog/zstd" // zstd's C library
)

// With cgo, chunks are compressed by zstd's C library: at level 3 it takes
// 0.55–0.6 of the time of klauspost/compress's level 3 over the bench
// corpus, and stores 2% fewer bytes (PERFORMANCE.md). Decoding stays in
// Go, so no C code parses bytes read from a mirror: those the C library
// sees are the user's own, read from this PC.
func init() { newEncoder = sharedCEncoder }

// The codecs of all volumes share one C encoder: its contexts are never
// freed.
var sharedCEncoder = sync.OnceValue(func() encoder {
	n := runtime.GOMAXPROCS(0)
	e := &cEncoder{ctxs: make(chan *C.ZSTD_CCtx, n), make: make(chan struct{}, n)}
	for range n {
		e.make <- struct{}{}
	}
	return e
})

// cEncoder compresses with at most one zstd context per core. A context
// is not safe for concurrent use, and each is a static one: its workspace
// (1.3 MB for level 3) is allocated once, at the size the largest input
// needs. Contexts that size their tables to each input (ZSTD_createCCtx)
// held 11 MB of the C allocator's per-thread arenas at an import's peak,
// these 3 MB: they made and freed their tables as small files and large
// chunks alternated. A call waits for a context rather than make one
// more: the C library runs outside the Go scheduler's count of running
// goroutines, so more contexts would mean more compressions at once than
// cores, each with its chunk and its output buffer.
type cEncoder struct {
	ctxs chan *C.ZSTD_CCtx // the idle contexts
	make chan struct{}     // a token per context still to be made
}

func (e *cEncoder) encode(dst, src []byte) ([]byte, bool) {
	var ctx *C.ZSTD_CCtx
	select {
	case ctx = <-e.ctxs:
	case <-e.make:
		size := C.ZSTD_estimateCCtxSize(zstdLevel)
		ctx = C.ZSTD_initStaticCCtx(C.malloc(size), size)
		if ctx == nil {
			panic("pack: zstd refused a static context")
		}
	}
	defer func() { e.ctxs <- ctx }()
	n := len(dst)
	dst = Room(dst, compressBound(len(src)))
	out := dst[n:cap(dst)]
	var in unsafe.Pointer // NULL for no bytes
	if len(src) > 0 {
		in = unsafe.Pointer(&src[0])
	}
	r := C.ZSTD_compressCCtx(ctx, unsafe.Pointer(&out[0]), C.size_t(len(out)), in, C.size_t(len(src)), zstdLevel)
	if C.ZSTD_isError(r) != 0 {
		return dst[:n], false
	}
	return dst[:n+int(r)], true
}
