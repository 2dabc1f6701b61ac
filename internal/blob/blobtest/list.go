package blobtest

import (
	stderrors "errors"
	"slices"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// listNames are chosen so that walking folders in the order of their own
// names does not give lexical order: '-' and '.' sort before '/', and
// digits and letters after it.
var listNames = []string{
	"d/a/b",
	"d/a/c/d",
	"d/a-b",
	"d/a.x",
	"d/a0",
	"d/aa",
	"d/A",
	"d/b",
	"d/ab/z",
	"e",
	"e0/x",
	"e-",
	"index/00",
	"index/0f",
	"index/ff",
}

func putListNames(t *testing.T, s blob.Store) []string {
	for i, name := range listNames {
		mustPut(t, s, name, make([]byte, i))
	}
	sorted := slices.Clone(listNames)
	slices.Sort(sorted)
	return sorted
}

func testList(t *testing.T, s blob.Store) {
	if got := list(t, s, ""); len(got) != 0 {
		t.Errorf("List of an empty store = %q", got)
	}
	want := putListNames(t, s)
	if got := list(t, s, ""); !slices.Equal(got, want) {
		t.Errorf("List(\"\") =\n%q\nwant\n%q", got, want)
	}
	err := s.List(t.Context(), "", func(in blob.Info) error {
		if i := slices.Index(listNames, in.Name); in.Size != int64(i) {
			t.Errorf("List reports %s with size %d, want %d", in.Name, in.Size, i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListPrefix(t *testing.T, s blob.Store) {
	all := putListNames(t, s)
	for _, prefix := range []string{"d", "d/", "d/a", "d/a/", "d/a/c", "d/a/c/d", "d/A", "d/ab", "e", "e0", "e0/", "index/0", "index/f", "x", "d/z", "e0/x/", "d/a/b/c", "d/a."} {
		var want []string
		for _, name := range all {
			if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
				want = append(want, name)
			}
		}
		if got := list(t, s, prefix); !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
}

func testListStop(t *testing.T, s blob.Store) {
	putListNames(t, s)
	stop := errors.Str("stop")
	calls := 0
	err := s.List(t.Context(), "", func(blob.Info) error {
		calls++
		return stop
	})
	if !stderrors.Is(err, stop) {
		t.Errorf("List returned %v, want the error fn returned", err)
	}
	if calls != 1 {
		t.Errorf("List called fn %d times after it failed, want 1", calls)
	}
}

// testListBadPrefix checks that a prefix no valid name starts with lists
// nothing: neither an error other than Invalid, nor anything outside the
// store.
func testListBadPrefix(t *testing.T, s blob.Store) {
	putListNames(t, s)
	for _, prefix := range []string{"../", "..", "/", "/d", "d//", "d/./a", "./d", "d/../d", "d/a\x00", "d/a b"} {
		var got []string
		err := s.List(t.Context(), prefix, func(in blob.Info) error {
			got = append(got, in.Name)
			return nil
		})
		if err != nil && errors.KindOf(err) != errors.Invalid {
			t.Errorf("List(%q): %v, want nil or an Invalid error", prefix, err)
		}
		if len(got) != 0 {
			t.Errorf("List(%q) = %q, want nothing", prefix, got)
		}
	}
}
