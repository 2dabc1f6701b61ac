package pack

import (
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
)

// Ids that share their first 8 bytes (the index's map key) are told
// apart; a pack added twice changes nothing; a chunk keeps its first
// location.
func TestIndexPrefixCollision(t *testing.T) {
	x := NewIndex()
	a, b, c := dvpc.ChunkID{1, 2, 3}, dvpc.ChunkID{1, 2, 3}, dvpc.ChunkID{9}
	b[31] = 7 // same first 8 bytes as a
	p1 := PackEntries{Pack: dvpc.ObjectID{0xa}, Gen: 1, Entries: []Entry{{ID: a, Offset: 0, Length: 10, Raw: 5}, {ID: b, Offset: 10, Length: 20, Raw: 6}}}
	p2 := PackEntries{Pack: dvpc.ObjectID{0xb}, Gen: 2, Entries: []Entry{{ID: b, Offset: 0, Length: 30, Raw: 7}, {ID: c, Offset: 30, Length: 40, Raw: 8}}}
	x.Add(p1)
	x.Add(p2)
	x.Add(p1)
	for _, want := range []struct {
		id  dvpc.ChunkID
		loc Location
	}{
		{a, Location{Pack: p1.Pack, Offset: 0, Length: 10, Raw: 5, Gen: 1}},
		{b, Location{Pack: p1.Pack, Offset: 10, Length: 20, Raw: 6, Gen: 1}},
		{c, Location{Pack: p2.Pack, Offset: 30, Length: 40, Raw: 8, Gen: 2}},
	} {
		if got, ok := x.Lookup(want.id); !ok || got != want.loc {
			t.Errorf("Lookup(%x) = %+v, %v; want %+v", want.id[:4], got, ok, want.loc)
		}
	}
	d := a
	d[31] = 8
	if _, ok := x.Lookup(d); ok {
		t.Error("an id never added was found through its prefix")
	}
	if x.Len() != 3 || !x.Has(p2.Pack) || x.Has(dvpc.ObjectID{0xc}) {
		t.Errorf("Len %d, Has %v %v", x.Len(), x.Has(p2.Pack), x.Has(dvpc.ObjectID{0xc}))
	}
	n := 0
	x.Packs(func(PackEntries) { n++ })
	if n != 2 {
		t.Errorf("Packs gave %d packs, want 2", n)
	}
}
