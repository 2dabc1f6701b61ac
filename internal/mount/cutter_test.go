package mount

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/volume"
)

// TestCutterHoldsOffChanges: while the cutter of a stream cuts (without
// the file's lock), whatever else would move the pending bytes waits for
// it: a change that ends the stream (a read, a write elsewhere), a
// truncation to empty, a write that outgrows the buffer. Each change is
// made while the cutter is held between its cut and the chunk's store;
// one that went ahead would leave the file's content wrong, or the
// cutter cutting bytes that are gone.
func TestCutterHoldsOffChanges(t *testing.T) {
	ctx := context.Background()
	data := make([]byte, 10<<20)
	rand.NewChaCha8([32]byte{5}).Read(data)
	const head = 3 << 20 // written before the change; more than a chunk can be
	for _, c := range []struct {
		name   string
		change func(d *dirty) error
		want   []byte // the content after the change
	}{
		{"end", func(d *dirty) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.endStream(ctx)
		}, data[:head]},
		{"truncate", func(d *dirty) error { return d.Truncate(ctx, 0) }, nil},
		{"grow", func(d *dirty) error { return d.WriteAt(ctx, data[head:], head) }, data},
	} {
		t.Run(c.name, func(t *testing.T) {
			tv := volume.NewTest(t, mem.New(), "laptop", nil)
			st, err := tv.OpenStage(filepath.Join(t.TempDir(), "stage"))
			if err != nil {
				t.Fatal(err)
			}
			f := &fsys{vol: tv.Volume, stage: st, work: t.TempDir(), now: time.Now,
				dirty: map[string]*dirty{}, sealers: make(chan struct{}, 2)}
			d := newDirty(f, "/f", nil, journal.Version{})
			cutting, release, waiting := make(chan struct{}), make(chan struct{}), make(chan struct{}, 1)
			held := false
			cutHook = func() {
				if !held { // the cutter's first cut only
					held = true
					cutting <- struct{}{}
					<-release
				}
			}
			waitHook = func() {
				select {
				case waiting <- struct{}{}:
				default:
				}
			}
			t.Cleanup(func() { cutHook, waitHook = nil, nil })

			if err := d.WriteAt(ctx, data[:head], 0); err != nil {
				t.Fatal(err)
			}
			<-cutting
			done := make(chan error, 1)
			go func() { done <- c.change(d) }()
			select {
			case <-waiting:
			case err := <-done:
				t.Fatalf("the change went ahead of the cutter (error %v)", err)
			}
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(data)+1)
			n, err := d.ReadAt(ctx, got, 0)
			if err != nil && err != io.EOF {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:n], c.want) {
				t.Fatalf("read %d bytes, want the %d written", n, len(c.want))
			}
			d.close()
		})
	}
}
