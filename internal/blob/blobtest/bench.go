package blobtest

import (
	"fmt"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
)

// BenchmarkStore runs benchmarks of the operations whose speed matters
// most: put and get of a 16 MiB pack, and a list of 10,000 objects.
// newStore must return a new, empty Store for each call.
func BenchmarkStore(b *testing.B, newStore func(b *testing.B) blob.Store) {
	b.Run("Put16MiB", func(b *testing.B) { benchPut(b, newStore(b), 16<<20) })
	b.Run("Get16MiB", func(b *testing.B) { benchGet(b, newStore(b), 16<<20) })
	b.Run("Put4KiB", func(b *testing.B) { benchPut(b, newStore(b), 4<<10) })
	b.Run("List10k", func(b *testing.B) { benchList(b, newStore(b), 10000) })
}

// benchPut puts new hash-named objects of size bytes, deleting each one
// outside the timer so that the store does not grow.
func benchPut(b *testing.B, s blob.Store, size int) {
	data := randBytes(1, size)
	b.SetBytes(int64(size))
	i := 0
	for b.Loop() {
		// Change the bytes, so that no store can skip a Put it has seen.
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16)
		name := hashName("packs", data)
		mustPut(b, s, name, data)
		b.StopTimer()
		if err := s.Delete(b.Context(), name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		i++
	}
}

func benchGet(b *testing.B, s blob.Store, size int) {
	data := randBytes(2, size)
	name := hashName("packs", data)
	mustPut(b, s, name, data)
	b.SetBytes(int64(size))
	for b.Loop() {
		mustGet(b, s, name, 0, -1)
	}
}

// benchList lists n objects spread over 256 folders, as packs are.
func benchList(b *testing.B, s blob.Store, n int) {
	for i := range n {
		mustPut(b, s, fmt.Sprintf("data/%02x/%08x", i%256, i), []byte("x"))
	}
	for b.Loop() {
		count := 0
		err := s.List(b.Context(), "data/", func(blob.Info) error {
			count++
			return nil
		})
		if err != nil || count != n {
			b.Fatalf("List found %d objects, %v; want %d", count, err, n)
		}
	}
}
