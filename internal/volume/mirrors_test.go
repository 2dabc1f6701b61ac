package volume

import (
	"context"
	"testing"

	"github.com/dvpc/dvpc/internal/blob/mem"
)

// The newest version of the set that opens is the set; a PC that knows a
// version is told only of newer ones; a version that does not open (no
// volume key wrote it) is passed over.
func TestMirrorsVersions(t *testing.T) {
	root := mem.New()
	v := NewTest(t, root, "pc", nil)
	ctx := context.Background()
	if m, err := v.Mirrors(ctx); err != nil || m != nil {
		t.Fatalf("a new volume's set: %v, %v; want none", m, err)
	}
	for _, q := range []int{1, 2} {
		m := &MirrorSet{Quorum: q, Mirrors: []MirrorRecord{
			{ID: "0123456789abcdef", Endpoints: []string{"/a"}}, {ID: "fedcba9876543210", Endpoints: []string{"/b"}}}}
		if err := v.SetMirrors(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.store.Put(ctx, mirrorsName(9), []byte("DVPC not a set")); err != nil {
		t.Fatal(err)
	}
	m, err := v.Mirrors(ctx)
	if err != nil || m == nil || m.Version != 2 || m.Quorum != 2 {
		t.Fatalf("newest set: %+v, %v; want version 2", m, err)
	}
	if m, err := v.MirrorsAfter(ctx, 1); err != nil || m == nil || m.Version != 2 {
		t.Fatalf("after version 1: %+v, %v; want version 2", m, err)
	}
	if m, err := v.MirrorsAfter(ctx, 2); err != nil || m != nil {
		t.Fatalf("after version 2: %+v, %v; want nothing newer", m, err)
	}
	one := []MirrorRecord{{ID: "0123456789abcdef", Endpoints: []string{"/a"}}}
	if err := v.SetMirrors(ctx, &MirrorSet{Quorum: 3, Mirrors: one}); err == nil {
		t.Fatal("a quorum above the number of mirrors was written")
	}
}
