package pack

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Both encoders, the C library's (in a build with cgo) and the Go one,
// write frames the Go decoder reads back, after the bytes already in dst,
// and compress text.
func TestEncoders(t *testing.T) {
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	text := bytes.Repeat([]byte("compress me, I repeat "), 100000)
	random := make([]byte, 300000)
	for i := range random {
		random[i] = byte(i*7919 + i>>3 + i>>11)
	}
	for name, enc := range map[string]encoder{"default": newEncoder(), "go": newGoEncoder()} {
		for _, data := range [][]byte{text, random, []byte("short"), {}} {
			out, ok := enc.encode([]byte("head"), data)
			if !ok || string(out[:4]) != "head" {
				t.Fatalf("%s: %d bytes: ok %v, head %q", name, len(data), ok, out[:min(4, len(out))])
			}
			got, err := dec.DecodeAll(out[4:], nil)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: %d bytes do not decode back: %v", name, len(data), err)
			}
			if len(out)-4 > compressBound(len(data)) {
				t.Fatalf("%s: %d bytes took %d, more than the bound %d", name, len(data), len(out)-4, compressBound(len(data)))
			}
		}
		if out, _ := enc.encode(nil, text); len(out) > len(text)/20 {
			t.Fatalf("%s: text compressed to %d of %d bytes", name, len(out), len(text))
		}
	}
}
