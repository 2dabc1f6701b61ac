package volume

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/journal"
)

// manyFiles returns changes that create n files in 100 folders, from 3
// devices, in clock order.
func manyFiles(n int) []Change {
	out := make([]Change, n)
	for i := range out {
		out[i] = Change{Device: dvpc.DeviceID{byte(i % 3)}, Entry: &journal.Entry{
			Time: journal.HLC(i+1) << 16, Op: journal.Put, Path: fmt.Sprintf("/d%02d/f%06d", i%100, i), Size: 1,
			Chunks: []journal.ChunkRef{{ID: dvpc.ChunkID{byte(i)}, Size: 1}}}}
	}
	return out
}

// BenchmarkMerge merges the changes of a 100,000-file volume.
func BenchmarkMerge(b *testing.B) {
	changes := manyFiles(100000)
	b.ReportAllocs()
	for b.Loop() {
		Merge(changes, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e5, "ns/change")
}

// BenchmarkMergeFromCheckpoint merges 1,000 changes onto the nodes of a
// checkpoint of a million files, four folders deep (as a PC that logs on
// to a large volume does): the nodes of the base are most of the work.
func BenchmarkMergeFromCheckpoint(b *testing.B) {
	base := make([]Node, 0, 1_000_000)
	for i := range cap(base) {
		p := fmt.Sprintf("/home/d%02d/e%03d/f%06d.txt", i%50, i%1000, i)
		base = append(base, Node{Path: p, Change: Change{Device: dvpc.DeviceID{1}, Entry: &journal.Entry{
			Time: journal.HLC(i+1) << 16, Op: journal.Put, Path: p, Size: 1,
			Chunks: []journal.ChunkRef{{ID: dvpc.ChunkID{byte(i)}, Size: 1}}}}})
	}
	changes := manyFiles(1000)
	for i := range changes {
		changes[i].Time += journal.HLC(len(base)+1) << 16
	}
	b.ReportAllocs()
	for b.Loop() {
		MergeFrom(base, changes, nil)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(base)), "ns/node")
}

// versions returns 10,000 successive versions of one file among 10,000
// other files.
func versions(n int) []Change {
	out := manyFiles(n)
	var prev journal.Version
	for i := 0; i < n; i++ {
		c := Change{Device: dvpc.DeviceID{1}, Entry: &journal.Entry{Time: journal.HLC(n+i+1) << 16, Op: journal.Put,
			Path: "/doc.txt", Base: prev, Size: uint64(i)}}
		prev = c.Version()
		out = append(out, c)
	}
	return out
}

// BenchmarkHistory looks up every version of a file that has 10,000.
func BenchmarkHistory(b *testing.B) {
	tv := NewTest(b, mem.New(), "pc", nil)
	changes := versions(10000)
	for _, c := range changes {
		tv.logs[c.Device] = appendEntry(tv.logs[c.Device], *c.Entry)
	}
	tv.tree = nil
	tv.Tree()
	b.ResetTimer()
	for b.Loop() {
		vs, err := tv.Versions(context.Background(), "/doc.txt")
		if err != nil || len(vs) != 10000 {
			b.Fatalf("%d versions, %v", len(vs), err)
		}
	}
}

func appendEntry(l *devLog, e journal.Entry) *devLog {
	if l == nil {
		l = &devLog{}
	}
	l.entries = append(l.entries, e)
	return l
}

// BenchmarkCatSmall reads a small file from a volume (index lookup, ranged
// get, open, verify).
func BenchmarkCatSmall(b *testing.B) {
	ctx := context.Background()
	tv := NewTest(b, mem.New(), "pc", nil)
	w := tv.NewWriter(ctx)
	refs, size, _ := tv.StoreFile(w, bytes.NewReader(bytes.Repeat([]byte("x"), 4000)))
	w.Add(journal.Entry{Op: journal.Put, Path: "/f", Size: size, Chunks: refs})
	if err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	w.Close()
	n := tv.Tree().Lookup("/f")
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if _, err := tv.WriteTo(ctx, n, &buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveState1M writes the local state of a volume whose journals
// hold a million files: the snapshot (under the volume's lock) and its
// encoding, and the whole save (sealing, writing and syncing the file).
func BenchmarkSaveState1M(b *testing.B) {
	tv := NewTest(b, mem.New(), "pc", nil)
	for _, c := range manyFiles(1000000) {
		tv.logs[c.Device] = appendEntry(tv.logs[c.Device], *c.Entry)
	}
	b.Run("encode", func(b *testing.B) {
		var n int
		for b.Loop() {
			tv.mu.Lock()
			snap := tv.snapState()
			tv.mu.Unlock()
			n = len(snap.encode(nil))
		}
		b.ReportMetric(float64(n)/1e6, "MB")
	})
	b.Run("save", func(b *testing.B) {
		for b.Loop() {
			tv.mu.Lock()
			tv.dirty = true
			tv.mu.Unlock()
			if err := tv.SaveState(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDecodeCheckpoint1M decodes a checkpoint of a million files (its
// body, opened and decompressed), as a PC that logs on to such a volume
// does.
func BenchmarkDecodeCheckpoint1M(b *testing.B) {
	cp := &checkpoint{heads: map[dvpc.DeviceID]head{{1}: {seq: 1}}}
	for i := range 1_000_000 {
		p := fmt.Sprintf("/home/d%02d/e%03d/f%06d.txt", i%50, i%1000, i)
		cp.nodes = append(cp.nodes, Node{Path: p, Change: Change{Device: dvpc.DeviceID{1}, Entry: &journal.Entry{
			Time: journal.HLC(i+1) << 16, Op: journal.Put, Path: p, Size: 1, Mode: 0o644,
			Chunks: []journal.ChunkRef{{ID: dvpc.ChunkID{byte(i), byte(i >> 8)}, Size: 1}}}}})
	}
	body := cp.encode()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeCheckpoint(body); err != nil {
			b.Fatal(err)
		}
	}
}
