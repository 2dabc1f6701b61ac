package volume

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/keys"
)

// TestSaveEveryLosesNothing: a mount puts off writing the local state
// (SetSaveEvery). Commits and stage flushes then leave the state file as
// it was; a process that dies before writing it loses nothing: the next
// Open reads the changes from the mirror, and the device's journal goes on
// from them (a third device reads every change).
func TestSaveEveryLosesNothing(t *testing.T) {
	ctx := context.Background()
	root := mem.New()
	cfg, vk, err := InitMirror(ctx, root, []byte("pass"), keys.TestParams(), "default", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	id := NewIdentity("pc")
	if err := Register(ctx, root, cfg, vk, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, stateFile)
	v, err := Open(ctx, root, cfg, vk, id, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	v.SetSaveEvery(time.Hour)
	putText(t, v, "/committed", "by a writer")
	st, err := v.OpenStage(filepath.Join(dir, "stage"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := st.StoreChunk([]byte("by the stage"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Add(journal.Entry{Op: journal.Put, Path: "/staged", Mode: 0o644, Size: uint64(ref.Size), Chunks: []journal.ChunkRef{ref}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(state); !bytes.Equal(after, before) {
		t.Fatal("the local state was written although SetSaveEvery put it off")
	}

	// The process dies here, the state as it was before both changes.
	v2, err := Open(ctx, root, cfg, vk, id, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/committed", "/staged"} {
		if v2.Tree().Lookup(p) == nil {
			t.Fatalf("%s is lost after a restart with the older state", p)
		}
	}
	putText(t, v2, "/after", "the journal goes on")
	if err := v2.SaveState(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(state); bytes.Equal(after, before) {
		t.Fatal("SaveState did not write the state")
	}
	other := OpenTest(t, root, cfg, vk, "other", nil)
	for _, p := range []string{"/committed", "/staged", "/after"} {
		if other.Tree().Lookup(p) == nil {
			t.Fatalf("another device does not see %s", p)
		}
	}
}

// Opening a volume that nothing changed since this PC last saved does not
// write the local state again: at a million files that is 60 MB.
func TestReopenWritesNoState(t *testing.T) {
	ctx := context.Background()
	tv := NewTest(t, mem.New(), "pc", nil)
	putText(t, tv.Volume, "/a", "some text")
	if err := tv.SaveState(); err != nil {
		t.Fatal(err)
	}
	dir := tv.stateDir
	state := filepath.Join(dir, stateFile)
	before, err := os.Stat(state)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		v, err := Open(ctx, tv.Root, tv.Cfg, tv.Key, tv.me, Options{StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		v.Tree()
		v.mu.Lock()
		dirty := v.dirty
		v.mu.Unlock()
		if dirty {
			t.Fatal("opening an unchanged volume left its local state to be written again")
		}
		if after, _ := os.Stat(state); !after.ModTime().Equal(before.ModTime()) {
			t.Fatal("opening an unchanged volume wrote its local state")
		}
	}
}
