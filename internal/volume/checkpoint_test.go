package volume

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
)

func putText(t *testing.T, v *Volume, p, text string) {
	t.Helper()
	local := t.TempDir() + "/f"
	if err := osWriteFile(local, text); err != nil {
		t.Fatal(err)
	}
	if err := v.PutFile(context.Background(), local, p); err != nil {
		t.Fatal(err)
	}
}

// A new PC opens a volume with a long history from its newest checkpoint,
// reading only the segments after it; history older than the checkpoint
// is read when asked for.
func TestCheckpointShortensOpen(t *testing.T) {
	defer func(n int) { CheckpointEvery = n }(CheckpointEvery)
	CheckpointEvery = 20
	ctx := context.Background()
	tv := NewTest(t, mem.New(), "pc1", nil)
	for i := range 50 {
		putText(t, tv.Volume, fmt.Sprintf("/f%02d", i%10), fmt.Sprintf("version %d", i))
	}
	var cps int
	tv.Root.List(ctx, "", func(i blob.Info) error {
		if strings.Contains(i.Name, "/checkpoints/") {
			cps++
		}
		return nil
	})
	if cps < 2 {
		t.Fatalf("%d checkpoints written for 50 changes every 20", cps)
	}
	want := dump(tv.Tree())

	counting := faulty.New(tv.Root)
	v2 := OpenTest(t, counting, tv.Cfg, tv.Key, "pc2", nil)
	if got := dump(v2.Tree()); got != want {
		t.Fatalf("tree from checkpoint differs:\n%s\nvs\n%s", got, want)
	}
	// Without a checkpoint: 2 device records, 50 segments, 50 index objects.
	// With one: the records, the checkpoint, and what came after it.
	if gets := counting.Calls(faulty.Get); gets > 30 {
		t.Fatalf("opening read %d objects; a checkpoint should spare most of the 100", gets)
	}
	vs, err := v2.Versions(ctx, "/f03")
	if err != nil || len(vs) != 5 {
		t.Fatalf("history of /f03 from a checkpointed PC: %d versions, %v", len(vs), err)
	}
	if got := dump(v2.Tree()); got != want {
		t.Fatal("tree changed after reading the full history")
	}
}

// A device that was offline writes changes older than the newest
// checkpoint; every PC still merges them in clock order.
func TestCheckpointWithOlderChanges(t *testing.T) {
	defer func(n int) { CheckpointEvery = n }(CheckpointEvery)
	CheckpointEvery = 10
	now := time.Unix(1_000_000, 0)
	late := func() time.Time { return now.Add(time.Hour) }
	early := func() time.Time { return now }
	tv := NewTest(t, mem.New(), "pc1", late)
	offline := OpenTest(t, tv.Root, tv.Cfg, tv.Key, "offline", early)
	putText(t, tv.Volume, "/shared", "base")
	for i := range 15 {
		putText(t, tv.Volume, fmt.Sprintf("/g%d", i), "x")
	}
	// The offline device never synced: its clock is an hour behind, and it
	// writes /shared without having seen pc1's version.
	putText(t, offline, "/shared", "offline edit")
	fresh := OpenTest(t, tv.Root, tv.Cfg, tv.Key, "fresh", nil)
	if err := tv.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := dump(tv.Tree())
	if got := dump(fresh.Tree()); got != want {
		t.Fatalf("fresh PC:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(want, "conflict") {
		t.Fatalf("the concurrent edit of /shared should make a conflict copy:\n%s", want)
	}
}

// The checkpoints of a growing volume grow geometrically: together they
// hold a small multiple of the newest one, not a checkpoint of the whole
// tree every CheckpointEvery changes.
func TestCheckpointsGrowGeometrically(t *testing.T) {
	defer func(n int) { CheckpointEvery = n }(CheckpointEvery)
	CheckpointEvery = 10
	ctx := context.Background()
	tv := NewTest(t, mem.New(), "pc1", nil)
	for i := range 400 {
		putText(t, tv.Volume, fmt.Sprintf("/d%d/f%03d", i%4, i), "x")
	}
	var sizes []int64
	tv.Root.List(ctx, "", func(i blob.Info) error {
		if strings.Contains(i.Name, "/checkpoints/") {
			sizes = append(sizes, i.Size)
		}
		return nil
	})
	var total, newest int64
	for _, s := range sizes {
		total += s
		newest = max(newest, s)
	}
	// Every 10 changes would be 40 checkpoints holding about 20 times
	// the newest.
	t.Logf("%d checkpoints of %d bytes in all, the largest %d", len(sizes), total, newest)
	if len(sizes) < 3 || len(sizes) > 15 || total > 4*newest {
		t.Fatalf("%d checkpoints of %d bytes in all, the largest %d", len(sizes), total, newest)
	}
	want := dump(tv.Tree())
	v2 := OpenTest(t, tv.Root, tv.Cfg, tv.Key, "pc2", nil)
	if got := dump(v2.Tree()); got != want {
		t.Fatal("the tree from the newest checkpoint differs")
	}
}
