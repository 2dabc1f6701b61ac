package replica_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/replica"
)

// The repair benchmarks: three dir mirrors of 200 objects of 256 KiB, of
// which the second mirror has lost every tenth.
const (
	benchObjects = 200
	benchSize    = 256 << 10
)

type benchFixture struct {
	dirs  []*dir.Store
	names []string
	lost  []string // on the first and third mirror, not on the second
}

func newBenchFixture(b *testing.B) *benchFixture {
	f := &benchFixture{}
	for range 3 {
		f.dirs = append(f.dirs, newDir(b))
	}
	for i := range benchObjects {
		data := randBytes(uint64(1000+i), benchSize)
		name := hashName("data/", data)
		for _, d := range f.dirs {
			mustPut(b, d, name, data)
		}
		f.names = append(f.names, name)
		if i%10 == 0 {
			f.lost = append(f.lost, name)
		}
	}
	return f
}

// lose deletes the lost objects from the second mirror.
func (f *benchFixture) lose(b *testing.B) {
	for _, n := range f.lost {
		if err := f.dirs[1].Delete(b.Context(), n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRepair10Percent times Check with Repair bringing the second
// mirror back: it lists all three, fetches each lost object from a good
// copy, checks its hash and writes it durably.
func BenchmarkRepair10Percent(b *testing.B) {
	f := newBenchFixture(b)
	var ms []replica.Mirror
	for i, d := range f.dirs {
		ms = append(ms, mirror(string(rune('a'+i)), d))
	}
	s := newSet(b, replica.Options{}, ms...)
	b.SetBytes(int64(len(f.lost) * benchSize))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f.lose(b)
		b.StartTimer()
		rep, err := s.Check(b.Context(), replica.CheckOptions{Repair: true})
		if err != nil {
			b.Fatal(err)
		}
		if rep.Repaired != len(f.lost) || len(rep.Failed) != 0 {
			b.Fatalf("repaired %d of %d, failed %v", rep.Repaired, len(f.lost), rep.Failed)
		}
	}
}

// BenchmarkCopy10Percent is the baseline: the same objects copied one
// after the other with plain file calls, each written to a temporary
// file, synced, renamed into place and its folder synced, as the dir
// store writes.
func BenchmarkCopy10Percent(b *testing.B) {
	f := newBenchFixture(b)
	src, dst := f.dirs[0].Root(), f.dirs[1].Root()
	b.SetBytes(int64(len(f.lost) * benchSize))
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f.lose(b)
		b.StartTimer()
		for _, n := range f.lost {
			if err := copyFile(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	for _, n := range f.lost {
		checkHas(b, "the copy", f.dirs[1], n, mustGetBytes(b, f.dirs[0], n))
	}
}

func mustGetBytes(b *testing.B, d *dir.Store, name string) []byte {
	data, err := d.Get(b.Context(), name, 0, -1)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".copy-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
