package chunk

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/zeebo/blake3"
)

func TestReassemble(t *testing.T) {
	p := smallParams
	big := randomData(3<<20, 1)
	sizes := []int{0, 1, 63, int(p.Min) - 1, int(p.Min), int(p.Min) + 1,
		int(p.Avg), int(p.Max) - 1, int(p.Max), int(p.Max) + 1,
		3*int(p.Max) + 17, len(big)}
	for _, n := range sizes {
		data := big[:n]
		got := bytes.Join(chunks(t, bytes.NewReader(data), testKey(0), p), nil)
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: chunks join to %d bytes, not the input", n, len(got))
		}
	}
}

func TestMatchesReference(t *testing.T) {
	data := randomData(4<<20, 2)
	params := []Params{
		DefaultParams(),
		smallParams,
		{Min: 64, Avg: 64, Max: 64},
		{Min: 64, Avg: 256, Max: 1024},
		{Min: 100, Avg: 128, Max: 1000},
		{Min: 1 << 10, Avg: 1 << 12, Max: 1 << 12},
	}
	g := NewGear(testKey(0))
	for _, p := range params {
		cuts := 0
		for rest := data; len(rest) > 0; cuts++ {
			n, want := Cut(rest, g, p), refCut(rest, g, p)
			if n != want {
				t.Fatalf("params %v at offset %d: Cut = %d, reference = %d",
					p, len(data)-len(rest), n, want)
			}
			rest = rest[n:]
		}
		if cuts < 2 {
			t.Errorf("params %v: only %d chunks, the test proves little", p, cuts)
		}
	}
}

func TestDeterministicAcrossReaders(t *testing.T) {
	for _, tc := range []struct {
		p Params
		n int
	}{{smallParams, 2 << 20}, {DefaultParams(), 12 << 20}} {
		data := randomData(tc.n, 3)
		want := cutAll(data, testKey(0), tc.p)
		readers := map[string]io.Reader{
			"bytes":   bytes.NewReader(data),
			"half":    iotest.HalfReader(bytes.NewReader(data)),
			"dataerr": iotest.DataErrReader(bytes.NewReader(data)),
			"odd":     &oddReader{r: bytes.NewReader(data), sizes: []int{1, 7, 4093, 65537, 3}},
		}
		if tc.n <= 2<<20 {
			readers["onebyte"] = iotest.OneByteReader(bytes.NewReader(data))
		}
		for name, r := range readers {
			got := lengths(chunks(t, r, testKey(0), tc.p))
			if !slices.Equal(got, want) {
				t.Errorf("params %v, %s reader: lengths %v, want %v", tc.p, name, got, want)
			}
		}
	}
}

func TestKeysDiffer(t *testing.T) {
	data := randomData(16<<20, 4)
	a, b := cutAll(data, testKey(0), smallParams), cutAll(data, testKey(2), smallParams)
	if slices.Equal(a, b) {
		t.Fatal("two keys cut the same places")
	}
	// Apart from resynchronising by chance, the cut points differ.
	shared := len(cutSet(a)) + len(cutSet(b)) - len(union(cutSet(a), cutSet(b)))
	if shared > len(a)/10 {
		t.Errorf("%d of %d cut points shared between keys", shared, len(a))
	}
	if *NewGear(testKey(0)) == *NewGear(testKey(2)) {
		t.Error("two keys give one gear table")
	}
}

// cutSet returns the offsets of the cuts that lens make.
func cutSet(lens []int) map[int]bool {
	set, off := map[int]bool{}, 0
	for _, n := range lens {
		off += n
		set[off] = true
	}
	return set
}

func union(a, b map[int]bool) map[int]bool {
	u := map[int]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}

func TestSizeBounds(t *testing.T) {
	for _, p := range []Params{smallParams, DefaultParams()} {
		for name, data := range map[string][]byte{
			"random": randomData(32<<20, 5),
			"zeros":  make([]byte, 10*int(p.Max)+5),
		} {
			lens := cutAll(data, testKey(0), p)
			for i, n := range lens[:len(lens)-1] {
				if n < int(p.Min) || n > int(p.Max) {
					t.Fatalf("params %v, %s: chunk %d is %d bytes", p, name, i, n)
				}
			}
			if last := lens[len(lens)-1]; last < 1 || last > int(p.Max) {
				t.Errorf("params %v, %s: last chunk is %d bytes", p, name, last)
			}
		}
	}
}

func TestAverageSize(t *testing.T) {
	data := randomData(64<<20, 6)
	for _, p := range []Params{smallParams, DefaultParams()} {
		lens := cutAll(data, testKey(0), p)
		mean := float64(len(data)) / float64(len(lens))
		t.Logf("params %v: %d chunks, mean %.0f bytes = %.3f Avg", p, len(lens), mean, mean/float64(p.Avg))
		if mean < 0.75*float64(p.Avg) || mean > 1.25*float64(p.Avg) {
			t.Errorf("params %v: mean chunk %.0f bytes, not within 25%% of %d", p, mean, p.Avg)
		}
	}
}

// TestShift inserts and deletes bytes in the middle: only the chunks around
// the edit may change.
func TestShift(t *testing.T) {
	data := randomData(64<<20, 7)
	mid := len(data) / 2
	old := idSet(ids(chunks(t, bytes.NewReader(data), testKey(0), DefaultParams())))
	edits := map[string][]byte{
		"insert": slices.Concat(data[:mid], randomData(100, 8), data[mid:]),
		"delete": slices.Concat(data[:mid], data[mid+100:]),
	}
	for name, edited := range edits {
		fresh := 0
		for _, id := range ids(chunks(t, bytes.NewReader(edited), testKey(0), DefaultParams())) {
			if !old[id] {
				fresh++
			}
		}
		t.Logf("%s 100 bytes: %d new chunks of %d", name, fresh, len(old))
		if fresh > 3 {
			t.Errorf("%s 100 bytes: %d new chunks, want at most 3", name, fresh)
		}
	}
}

func idSet(ids [][32]byte) map[[32]byte]bool {
	set := map[[32]byte]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return set
}

func TestAppend(t *testing.T) {
	data := randomData(24<<20, 9)
	for _, extra := range []int{1, 1000, 5 << 20} {
		a := lengths(chunks(t, bytes.NewReader(data), testKey(0), DefaultParams()))
		grown := slices.Concat(data, randomData(extra, 10))
		b := lengths(chunks(t, bytes.NewReader(grown), testKey(0), DefaultParams()))
		if !slices.Equal(a[:len(a)-1], b[:len(a)-1]) {
			t.Errorf("appending %d bytes changed chunks before the last: %v, then %v", extra, a, b)
		}
	}
}

func TestEmpty(t *testing.T) {
	c := New(bytes.NewReader(nil), testKey(0), DefaultParams())
	for range 2 {
		if b, err := c.Next(); err != io.EOF || b != nil {
			t.Fatalf("Next on empty input = %v, %v; want nil, io.EOF", b, err)
		}
	}
	if n := Cut(nil, NewGear(testKey(0)), DefaultParams()); n != 0 {
		t.Errorf("Cut(nil) = %d", n)
	}
}

func TestReset(t *testing.T) {
	a, b := randomData(5<<20, 11), randomData(300<<10, 12)
	c := New(bytes.NewReader(nil), testKey(0), smallParams)
	for _, data := range [][]byte{a, b, a, nil, b} {
		c.Reset(bytes.NewReader(data))
		if got, want := lengths(drain(t, c)), cutAll(data, testKey(0), smallParams); !slices.Equal(got, want) {
			t.Fatalf("after Reset: lengths %v, want %v", got, want)
		}
	}
	c.Reset(iotest.ErrReader(errors.New("boom")))
	c.Next()
	c.Reset(bytes.NewReader(b))
	if got, want := lengths(drain(t, c)), cutAll(b, testKey(0), smallParams); !slices.Equal(got, want) {
		t.Fatalf("Reset after an error: lengths %v, want %v", got, want)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	data := randomData(1<<20, 13)
	for name, r := range map[string]io.Reader{
		"at once": iotest.ErrReader(boom),
		"later":   io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)),
		"timeout": iotest.TimeoutReader(bytes.NewReader(data)),
		"stuck":   zeroReader{},
	} {
		c := New(r, testKey(0), smallParams)
		var err error
		for err == nil {
			_, err = c.Next()
		}
		if err == io.EOF {
			t.Errorf("%s: Next ended with io.EOF, not the read error", name)
		}
		if _, again := c.Next(); again != err {
			t.Errorf("%s: error not sticky: %v, then %v", name, err, again)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	data := randomData(40<<20, 14)
	r := bytes.NewReader(data)
	c := New(r, testKey(0), DefaultParams())
	drain(t, c) // grow the buffer once
	r.Reset(data)
	c.Reset(r)
	allocs := testing.AllocsPerRun(20, func() {
		if _, err := c.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v times per chunk", allocs)
	}
	k := NewIDKey(testKey(1))
	if allocs := testing.AllocsPerRun(20, func() { k.Sum(data[:1<<20]) }); allocs != 0 {
		t.Errorf("IDKey.Sum allocates %v times per chunk", allocs)
	}
}

func TestIDKey(t *testing.T) {
	chunk := randomData(3<<20+5, 15)
	key := testKey(1)
	h, _ := blake3.NewKeyed(key[:])
	h.Write(chunk)
	want := [32]byte(h.Sum(nil))
	k := NewIDKey(key)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 4 {
				if got := k.Sum(chunk); got != want {
					t.Errorf("goroutine %d, sum %d: %x, want %x", i, j, got, want)
				}
				if k.Sum(chunk[:j]) == want {
					t.Errorf("prefix of %d bytes has the id of the chunk", j)
				}
			}
		})
	}
	wg.Wait()
	if NewIDKey(testKey(2)).Sum(chunk) == want {
		t.Error("two keys give one id")
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{DefaultParams(), true},
		{smallParams, true},
		{Params{64, 64, 64}, true},
		{Params{64, 1 << 26, 1 << 26}, true},
		{Params{63, 64, 128}, false},            // Min below 64
		{Params{0, 64, 128}, false},             // Min below 64
		{Params{256, 128, 1024}, false},         // Min above Avg
		{Params{64, 1024, 512}, false},          // Avg above Max
		{Params{64, 1000, 4096}, false},         // Avg not a power of two
		{Params{64, 0, 4096}, false},            // Avg zero
		{Params{64, 1 << 20, 1<<26 + 1}, false}, // Max above 64 MiB
		{Params{1 << 27, 1 << 27, 1 << 27}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%v) = %v, want ok %v", tc.p, err, tc.ok)
		}
	}
}
