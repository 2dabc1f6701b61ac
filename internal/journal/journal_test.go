package journal

import (
	"bytes"
	"crypto/ed25519"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/seal"
)

var (
	testMeta = seal.NewKey([32]byte{1})
	testPriv = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	testPub  = testPriv.Public().(ed25519.PublicKey)
)

func sampleSegment() *Segment {
	return &Segment{Device: dvpc.DeviceID{7}, Seq: 2, Prev: dvpc.ObjectID{9}, Entries: []Entry{
		{Time: 5 << 16, Op: Mkdir, Path: "/docs", Mode: 0o755, MTime: 1},
		{Time: 6 << 16, Op: Put, Path: "/docs/a.txt", Base: Version{Device: dvpc.DeviceID{3}, Time: 4}, Mode: 0o644,
			MTime: -5, Size: 10, Chunks: []ChunkRef{{ID: dvpc.ChunkID{1}, Size: 4}, {ID: dvpc.ChunkID{2}, Size: 6}}},
		{Time: 7 << 16, Op: Symlink, Path: "/l", Target: "docs/a.txt"},
		{Time: 8 << 16, Op: Delete, Path: "/docs/a.txt", Base: Version{Device: dvpc.DeviceID{7}, Time: 6 << 16}},
	}}
}

func TestSegmentRoundTrip(t *testing.T) {
	s := sampleSegment()
	b := s.Marshal(testMeta, 1, testPriv)
	got, err := Parse(testMeta, testPub, b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("got %+v\nwant %+v", got, s)
	}
}

func TestSegmentDetectsEveryFlippedByte(t *testing.T) {
	b := sampleSegment().Marshal(testMeta, 1, testPriv)
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x10
		if _, err := Parse(testMeta, testPub, bad); err == nil {
			t.Fatalf("flipped byte %d was not detected", i)
		} else if k := errors.KindOf(err); k != errors.Corrupt && k != errors.Version {
			t.Fatalf("flipped byte %d: kind %v (%v)", i, k, err)
		}
	}
}

func TestSegmentWrongSigner(t *testing.T) {
	b := sampleSegment().Marshal(testMeta, 1, testPriv)
	other, _, _ := ed25519.GenerateKey(nil)
	if _, err := Parse(testMeta, other, b); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("err = %v, want Corrupt", err)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{"a/b": "/a/b", "/a//b/": "/a/b", "/": "/", "": "/", "./x": "/x"} {
		if got, err := CleanPath(in); err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	long := strings.Repeat("x", MaxPath) // "/" and it, one byte too many
	for _, bad := range []string{"../x", "/a/../../b", "a\x00b", "\xff", long, "/" + long} {
		if _, err := CleanPath(bad); !errors.Is(err, errors.Invalid) {
			t.Errorf("CleanPath(%q) accepted", bad)
		}
	}
}

// cleanPathGeneral is CleanPath without its fast path.
func cleanPathGeneral(p string) (string, bool) {
	if !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
		return "", false
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", false
		}
	}
	if c := path.Clean("/" + p); len(c) <= MaxPath {
		return c, true
	}
	return "", false
}

// The fast path agrees with the general case: a path it passes is one
// the general case leaves as it is.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "", "/a", "/a/", "//a", "/a//b", "/./a", "/a/.", "/a/..", "/..a/b..", "/a\x00", "/\xff", "/é/ü", "/.hidden/..x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		want, ok := cleanPathGeneral(p)
		got, err := CleanPath(p)
		if ok != (err == nil) || got != want {
			t.Fatalf("CleanPath(%q) = %q, %v; the general case gives %q, %v", p, got, err, want, ok)
		}
		if canonical(p) && want != p {
			t.Fatalf("canonical(%q), but its clean form is %q", p, want)
		}
		if ok && !canonical(want) {
			t.Fatalf("CleanPath(%q) = %q, which canonical refuses", p, want)
		}
	})
}

func BenchmarkCleanPath(b *testing.B) {
	p := "/home/someone/projects/dvpc/internal/journal/entry.go"
	for b.Loop() {
		CleanPath(p)
	}
}

func TestHLC(t *testing.T) {
	now := time.UnixMilli(1000)
	h := HLC(0).Next(now)
	if h.Time() != now || h.Next(now) != h+1 {
		t.Fatalf("HLC ordering broken: %d", h)
	}
	// A clock seen from the future still moves forward.
	future := MakeHLC(time.UnixMilli(5000))
	if future.Next(now) <= future {
		t.Fatal("Next went backwards")
	}
}

func FuzzParseSegment(f *testing.F) {
	f.Add(sampleSegment().Marshal(testMeta, 1, testPriv))
	f.Add([]byte("DVPC\x01\x05"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseHead(b)
		Parse(testMeta, testPub, b)
	})
}

func FuzzDecodeEntries(f *testing.F) {
	f.Add(EncodeEntries(sampleSegment().Entries))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := DecodeEntries(b)
		if err != nil {
			return
		}
		again, err := DecodeEntries(EncodeEntries(es))
		if err != nil || !reflect.DeepEqual(again, es) {
			t.Fatalf("re-encoding changed the entries: %v", err)
		}
	})
}

// Check refuses what the decoder would refuse, so that no writer seals an
// entry that makes its segment unreadable.
func TestCheck(t *testing.T) {
	long := strings.Repeat("x", MaxPath)
	for _, e := range []Entry{
		{Op: Mkdir, Path: "/" + long},
		{Op: Symlink, Path: "/l", Target: long + "x"},
		{Op: Put, Path: "a/b"},
		{Op: Delete, Path: "/"},
	} {
		if err := Check(&e); !errors.Is(err, errors.Invalid) {
			t.Errorf("Check(%.40v) = %v", e, err)
		}
		if _, _, err := DecodeEntry(AppendEntry(nil, &e)); err == nil {
			t.Errorf("the decoder accepts %.40v, which Check refuses", e)
		}
	}
	ok := Entry{Op: Symlink, Path: "/" + long[1:], Target: long}
	if err := Check(&ok); err != nil {
		t.Errorf("Check of an entry at the bounds: %v", err)
	}
	if _, _, err := DecodeEntry(AppendEntry(nil, &ok)); err != nil {
		t.Errorf("the decoder refuses an entry at the bounds: %v", err)
	}
}

// A slab decodes what DecodeEntry decodes, refuses what it refuses, and
// hands out chunk lists that an append cannot carry into a neighbour's.
func TestSlab(t *testing.T) {
	var b []byte
	var want []*Entry
	for i := range 3000 { // more than a block of entries and of chunks
		for _, e := range sampleSegment().Entries {
			e.Time += HLC(i) << 20
			b = AppendEntry(b, &e)
			want = append(want, &e)
		}
	}
	var s Slab
	rest := b
	var got []*Entry
	for len(rest) > 0 {
		e, r, err := s.Decode(rest)
		if err != nil {
			t.Fatalf("entry %d: %v", len(got), err)
		}
		one, r1, err := DecodeEntry(rest)
		if err != nil || !reflect.DeepEqual(one, e) || len(r1) != len(r) {
			t.Fatalf("entry %d: slab %+v, DecodeEntry %+v (%v)", len(got), e, one, err)
		}
		if cap(e.Chunks) != len(e.Chunks) {
			t.Fatalf("entry %d: chunk list of %d with room for %d", len(got), len(e.Chunks), cap(e.Chunks))
		}
		got, rest = append(got, e), r
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("the slab's entries differ from those encoded")
	}
	// What the decoder refuses, the slab refuses.
	bad := AppendEntry(nil, &Entry{Time: 1, Op: Put, Path: "/a/../b", Base: Version{Device: dvpc.DeviceID{1}, Time: 1}})
	if _, _, err := s.Decode(bad); err == nil {
		t.Fatal("a path that is not canonical was decoded")
	}
	// Nothing of the refused entry stays in the slab's next one.
	good := AppendEntry(nil, &Entry{Time: 2, Op: Mkdir, Path: "/c"})
	e, _, err := s.Decode(good)
	if err != nil || e.Base != (Version{}) || e.Path != "/c" {
		t.Fatalf("the entry after a refused one: %+v, %v", e, err)
	}
}
