package faulty_test

import (
	"bytes"
	stderrors "errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/blob/faulty"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
)

// TestStore checks that a Store without rules is a faithful mirror.
func TestStore(t *testing.T) {
	blobtest.TestStore(t, func(*testing.T) blob.Store { return faulty.New(mem.New()) })
}

func setup(t *testing.T) (*faulty.Store, *mem.Store) {
	inner := mem.New()
	for _, name := range []string{"a/1", "a/2", "b/1"} {
		if err := inner.Put(t.Context(), name, []byte("data of "+name)); err != nil {
			t.Fatal(err)
		}
	}
	return faulty.New(inner), inner
}

func TestFailNth(t *testing.T) {
	s, _ := setup(t)
	boom := errors.Str("boom")
	s.FailNth(faulty.Get, 3, boom)
	for i := 1; i <= 5; i++ {
		_, err := s.Get(t.Context(), "a/1", 0, -1)
		if (i == 3) != (err == boom) {
			t.Errorf("Get #%d: %v", i, err)
		}
	}
	if n := s.Calls(faulty.Get); n != 5 {
		t.Errorf("Calls(Get) = %d, want 5", n)
	}
}

func TestFailPrefix(t *testing.T) {
	s, _ := setup(t)
	s.FailPrefix(faulty.Stat, "a/", nil)
	_, err := s.Stat(t.Context(), "a/2")
	if errors.KindOf(err) != errors.Unavailable {
		t.Errorf("Stat(a/2): %v, want Unavailable", err)
	}
	if _, err := s.Stat(t.Context(), "b/1"); err != nil {
		t.Errorf("Stat(b/1): %v", err)
	}
	s.FailPrefix(faulty.List, "b", nil)
	if err := s.List(t.Context(), "b/", func(blob.Info) error { return nil }); err == nil {
		t.Error("List(b/) did not fail")
	}
	if err := s.List(t.Context(), "a/", func(blob.Info) error { return nil }); err != nil {
		t.Errorf("List(a/): %v", err)
	}
	s.FailPrefix(faulty.Delete, "", nil)
	if err := s.Delete(t.Context(), "b/1"); err == nil {
		t.Error("Delete did not fail")
	}
	s.Reset()
	if _, err := s.Stat(t.Context(), "a/2"); err != nil {
		t.Errorf("Stat after Reset: %v", err)
	}
}

func TestCorruptGets(t *testing.T) {
	s, inner := setup(t)
	s.CorruptGets("a/")
	want := []byte("data of a/1")
	got, err := s.Get(t.Context(), "a/1", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := bitsDiffer(got, want); diff != 1 {
		t.Errorf("Get returned %q, %d bits from %q; want 1", got, diff, want)
	}
	if clean, _ := inner.Get(t.Context(), "a/1", 0, -1); !bytes.Equal(clean, want) {
		t.Errorf("corrupting a Get changed the inner store: %q", clean)
	}
	if got, _ := s.Get(t.Context(), "b/1", 0, -1); string(got) != "data of b/1" {
		t.Errorf("Get(b/1) = %q, corrupted outside the prefix", got)
	}
}

func bitsDiffer(a, b []byte) int {
	if len(a) != len(b) {
		return -1
	}
	n := 0
	for i := range a {
		for x := a[i] ^ b[i]; x != 0; x &= x - 1 {
			n++
		}
	}
	return n
}

func TestDropPuts(t *testing.T) {
	s, _ := setup(t)
	s.DropPuts("lost/")
	if err := s.Put(t.Context(), "lost/x", []byte("x")); err != nil {
		t.Fatalf("dropped Put: %v, want nil", err)
	}
	_, err := s.Stat(t.Context(), "lost/x")
	if errors.KindOf(err) != errors.NotExist {
		t.Errorf("Stat of a dropped object: %v, want NotExist", err)
	}
	if err := s.Put(t.Context(), "kept/x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(t.Context(), "kept/x"); err != nil {
		t.Errorf("Stat of a kept object: %v", err)
	}
	if n := s.Calls(faulty.Put); n != 2 {
		t.Errorf("Calls(Put) = %d, want 2", n)
	}
}

// TestFirstRuleWins checks that every matching rule counts a call, and
// the first one added decides it.
func TestFirstRuleWins(t *testing.T) {
	s, _ := setup(t)
	first, second := errors.Str("first"), errors.Str("second")
	s.FailNth(faulty.Get, 2, first)
	s.FailNth(faulty.Get, 2, second)
	s.FailNth(faulty.Get, 3, second)
	var errs []error
	for range 4 {
		_, err := s.Get(t.Context(), "a/1", 0, -1)
		errs = append(errs, err)
	}
	if errs[0] != nil || errs[1] != first || errs[2] != second || errs[3] != nil {
		t.Errorf("errors = %v, want [nil first second nil]", errs)
	}
}

func TestAddPanics(t *testing.T) {
	for _, r := range []faulty.Rule{
		{Method: faulty.Put, Effect: faulty.Corrupt},
		{Method: faulty.Get, Effect: faulty.Drop},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add(%+v) did not panic", r)
				}
			}()
			faulty.New(mem.New()).Add(r)
		}()
	}
}

// TestConcurrent checks that, among calls from many goroutines, exactly
// the Nth fails.
func TestConcurrent(t *testing.T) {
	s, _ := setup(t)
	boom := errors.Str("boom")
	s.FailNth(faulty.Put, 50, boom)
	var failed atomic.Int32
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := range 10 {
				err := s.Put(t.Context(), fmt.Sprintf("c/%d-%d", g, i), nil)
				if stderrors.Is(err, boom) {
					failed.Add(1)
				} else if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if failed.Load() != 1 || s.Calls(faulty.Put) != 100 {
		t.Errorf("%d of %d Puts failed, want 1 of 100", failed.Load(), s.Calls(faulty.Put))
	}
}

func TestMethodString(t *testing.T) {
	if faulty.Delete.String() != "Delete" || faulty.Method(99).String() != "unknown method" {
		t.Error("Method.String")
	}
}
