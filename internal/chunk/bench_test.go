package chunk

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
)

// Run with: go test -run x -bench . ./internal/chunk

func BenchmarkChunker(b *testing.B) {
	data := randomData(64<<20, 1)
	r := bytes.NewReader(data)
	c := New(r, testKey(0), DefaultParams())
	drain(b, c) // grow the buffer before timing
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		c.Reset(r)
		for {
			if _, err := c.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCut(b *testing.B) {
	data := randomData(64<<20, 1)
	g, p := NewGear(testKey(0)), DefaultParams()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for rest := data; len(rest) > 0; {
			rest = rest[Cut(rest, g, p):]
		}
	}
}

func BenchmarkIDKey(b *testing.B) {
	chunk := randomData(1<<20, 2)
	k := NewIDKey(testKey(1))
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		k.Sum(chunk)
	}
}

// BenchmarkIDKeyParallel shows Sum scaling over the machine's cores.
func BenchmarkIDKeyParallel(b *testing.B) {
	chunk := randomData(1<<20, 2)
	k := NewIDKey(testKey(1))
	b.SetBytes(int64(len(chunk)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k.Sum(chunk)
		}
	})
}

// BenchmarkSHA256 is the baseline for BenchmarkIDKey: plain SHA-256 of the
// same 1 MiB chunks.
func BenchmarkSHA256(b *testing.B) {
	chunk := randomData(1<<20, 2)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		sha256.Sum256(chunk)
	}
}

func BenchmarkNewGear(b *testing.B) {
	for b.Loop() {
		NewGear(testKey(0))
	}
}
