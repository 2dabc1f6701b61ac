package pack

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
)

var testKeys = keys.ForVolume(keys.Key{5})

func buildPack(t testing.TB, chunks ...[]byte) ([]byte, dvpc.ObjectID, []Entry, *Codec) {
	c := NewCodec(testKeys)
	w := NewWriter(testKeys.Meta, 1)
	for _, data := range chunks {
		id := c.ID(data)
		w.Add(id, c.Seal(nil, id, data), len(data))
	}
	b, id, es := w.Finish()
	return b, id, es, c
}

func TestPackRoundTrip(t *testing.T) {
	text := bytes.Repeat([]byte("compress me "), 10000)
	random := make([]byte, 50000)
	for i := range random {
		random[i] = byte(i*7919 + i>>3)
	}
	b, id, es, c := buildPack(t, text, random, []byte("x"))
	if dvpc.Hash(b) != id {
		t.Fatal("pack id is not the hash of its bytes")
	}
	got, err := ParseHeader(testKeys.Meta, b, int64(len(b)))
	if err != nil || len(got) != 3 {
		t.Fatalf("header: %v, %d entries", err, len(got))
	}
	for i, want := range [][]byte{text, random, []byte("x")} {
		e := got[i]
		if e != es[i] {
			t.Fatalf("entry %d differs", i)
		}
		// OpenTo leaves the sealed bytes as they are, and appends.
		sealed := b[e.Offset : e.Offset+e.Length]
		before := bytes.Clone(sealed)
		pt, _, err := c.OpenTo([]byte("head"), nil, e.ID, sealed)
		if err != nil || string(pt[:4]) != "head" || !bytes.Equal(pt[4:], want) {
			t.Fatalf("chunk %d, OpenTo: %v", i, err)
		}
		if !bytes.Equal(sealed, before) {
			t.Fatalf("chunk %d: OpenTo changed the sealed bytes", i)
		}
		pt, err = c.Open(nil, e.ID, sealed)
		if err != nil || !bytes.Equal(pt, want) {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	if int(es[0].Length) > len(text)/4 {
		t.Errorf("text chunk was not compressed: %d bytes", es[0].Length)
	}
}

// Opening a compressed chunk after other bytes appends it and leaves them
// alone, in the buffer's spare capacity when it has room enough.
// (BenchmarkOpenAfter shows the decoder's own cost there.)
func TestOpenAppendsInPlace(t *testing.T) {
	text := bytes.Repeat([]byte("compress me, after other bytes "), 20000)
	b, _, es, c := buildPack(t, text)
	e := es[0]
	sealed := func() []byte { return bytes.Clone(b[e.Offset : e.Offset+e.Length]) }
	for _, spare := range []int{0, len(text) - 1, len(text), 2 * len(text)} {
		dst := append(make([]byte, 0, 4+spare), "head"...)
		pt, err := c.Open(dst, e.ID, sealed())
		if err != nil || string(pt[:4]) != "head" || !bytes.Equal(pt[4:], text) {
			t.Fatalf("spare %d: %v", spare, err)
		}
		if inPlace := &pt[0] == &dst[0]; inPlace != (spare >= len(text)) {
			t.Errorf("spare %d: decoded in place: %v", spare, inPlace)
		}
		pt, _, err = c.OpenTo(dst, nil, e.ID, sealed())
		if err != nil || string(pt[:4]) != "head" || !bytes.Equal(pt[4:], text) {
			t.Fatalf("OpenTo, spare %d: %v", spare, err)
		}
	}
}

func TestChunkFlipDetected(t *testing.T) {
	b, _, es, c := buildPack(t, []byte("hello, world"))
	e := es[0]
	for i := e.Offset; i < e.Offset+e.Length; i++ {
		bad := bytes.Clone(b)
		bad[i] ^= 1
		if _, err := c.Open(nil, e.ID, bad[e.Offset:e.Offset+e.Length]); !errors.Is(err, errors.Corrupt) {
			t.Fatalf("flip at %d: err = %v", i, err)
		}
		if _, _, err := c.OpenTo(nil, nil, e.ID, bad[e.Offset:e.Offset+e.Length]); !errors.Is(err, errors.Corrupt) {
			t.Fatalf("OpenTo, flip at %d: err = %v", i, err)
		}
		// OpenVerified skips only the id's hash: the AEAD still refuses.
		bad = bytes.Clone(b)
		bad[i] ^= 1
		if _, _, err := c.OpenVerified(nil, e.ID, bad[e.Offset:e.Offset+e.Length]); !errors.Is(err, errors.Corrupt) {
			t.Fatalf("OpenVerified, flip at %d: err = %v", i, err)
		}
	}
	if pt, _, err := c.OpenVerified(nil, e.ID, bytes.Clone(b[e.Offset:e.Offset+e.Length])); err != nil || string(pt) != "hello, world" {
		t.Fatalf("OpenVerified: %q, %v", pt, err)
	}
	// A chunk served under another chunk's id is refused, by both.
	if _, err := c.Open(nil, dvpc.ChunkID{1}, bytes.Clone(b[e.Offset:e.Offset+e.Length])); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("swapped chunk accepted: %v", err)
	}
	if _, _, err := c.OpenTo(nil, nil, dvpc.ChunkID{1}, b[e.Offset:e.Offset+e.Length]); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("swapped chunk accepted by OpenTo: %v", err)
	}
	if _, _, err := c.OpenVerified(nil, dvpc.ChunkID{1}, bytes.Clone(b[e.Offset:e.Offset+e.Length])); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("swapped chunk accepted by OpenVerified: %v", err)
	}
}

func TestIndexRoundTrip(t *testing.T) {
	_, id, es, _ := buildPack(t, []byte("a"), []byte("b"))
	b := MarshalIndex(testKeys.Meta, 1, []PackEntries{{Pack: id, Gen: 1, Entries: es}})
	got, err := ParseIndex(testKeys.Meta, b)
	if err != nil || len(got) != 1 || got[0].Pack != id || len(got[0].Entries) != 2 {
		t.Fatalf("index: %v %+v", err, got)
	}
	b[len(b)-1] ^= 1
	if _, err := ParseIndex(testKeys.Meta, b); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("flipped index accepted: %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	b, _, _, _ := buildPack(f, []byte("seed chunk"))
	f.Add(b)
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseHeader(testKeys.Meta, b, int64(len(b)))
		if err != nil {
			return
		}
		for _, e := range es {
			if int64(e.Offset)+int64(e.Length) > int64(len(b)) {
				t.Fatal("entry outside the pack")
			}
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	_, id, es, _ := buildPack(f, []byte("a"))
	f.Add(EncodeIndex([]PackEntries{{Pack: id, Entries: es}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		packs, err := DecodeIndex(b)
		if err != nil {
			return
		}
		again, err := DecodeIndex(EncodeIndex(packs))
		if err != nil || !reflect.DeepEqual(again, packs) {
			t.Fatalf("index does not survive re-encoding: %v", err)
		}
	})
}

func FuzzOpenChunk(f *testing.F) {
	c := NewCodec(testKeys)
	id := c.ID([]byte("x"))
	f.Add(c.Seal(nil, id, []byte("x")))
	f.Fuzz(func(t *testing.T, b []byte) {
		c.Open(nil, id, b)
	})
}

// BenchmarkOpenAfter opens a compressible 1 MiB chunk after 3 MiB of
// others in one buffer, as a span of a pack is read: the decoder must
// write in place there, not block by block aside and copied over.
func BenchmarkOpenAfter(b *testing.B) {
	text := bytes.Repeat([]byte("benchmark text, compressible "), 1<<20/29)
	p, _, es, c := buildPack(b, text)
	e := es[0]
	sealed := p[e.Offset : e.Offset+e.Length]
	dst := make([]byte, 3<<20, 3<<20+len(text))
	work := make([]byte, len(sealed))
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		copy(work, sealed)
		if _, err := c.Open(dst, e.ID, work); err != nil {
			b.Fatal(err)
		}
	}
}

// A buffer made by Room with SealRoom of the largest chunk holds any chunk
// sealed into it (Seal compresses and seals in place), compressible or
// not, so a reused buffer is made only once; a small chunk sealed into no
// buffer takes little memory (8 MiB each made the mount's stage take four
// times the CPU for small files).
func TestRoomFitsTheLargestChunk(t *testing.T) {
	c := NewCodec(testKeys)
	largest := make([]byte, chunk.DefaultParams().Max)
	for i := range largest {
		largest[i] = byte(i*7919 + i>>3 + i>>11)
	}
	text := bytes.Repeat([]byte("compress me "), len(largest)/12)
	buf := Room(nil, SealRoom(len(largest)))
	for _, data := range [][]byte{largest, text, []byte("x")} {
		id := c.ID(data)
		out := c.Seal(buf[:0], id, data)
		if &out[:1][0] != &buf[:1][0] {
			t.Fatalf("a chunk of %d bytes was sealed into a new buffer", len(data))
		}
		if pt, err := c.Open(nil, id, bytes.Clone(out)); err != nil || !bytes.Equal(pt, data) {
			t.Fatalf("chunk of %d bytes: %v", len(data), err)
		}
	}
	small := bytes.Repeat([]byte("a small file "), 8)
	if out := c.Seal(nil, c.ID(small), small); cap(out) > 1024 {
		t.Errorf("a chunk of %d bytes sealed into a buffer of %d", len(small), cap(out))
	}
	// Room keeps what b holds.
	if b := Room([]byte("head"), 10); string(b) != "head" || cap(b) < 14 {
		t.Fatalf("Room lost the bytes: %q, cap %d", b, cap(b))
	}
}
