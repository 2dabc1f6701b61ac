package blobtest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

const workers = 16

// testConcurrent has many goroutines put, get, list and delete objects of
// their own at once.
func testConcurrent(t *testing.T, s blob.Store) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range 8 {
				name := fmt.Sprintf("c/%02d/%02d", w, i)
				data := randBytes(uint64(w*100+i), 1000+w*i)
				if err := s.Put(t.Context(), name, data); err != nil {
					t.Errorf("Put(%s): %v", name, err)
					return
				}
				got, err := s.Get(t.Context(), name, 0, -1)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("Get(%s) = %d bytes, %v; want %d bytes", name, len(got), err, len(data))
				}
				if err := s.List(t.Context(), "c/", func(blob.Info) error { return nil }); err != nil {
					t.Errorf("List: %v", err)
				}
			}
			if err := s.Delete(t.Context(), fmt.Sprintf("c/%02d/00", w)); err != nil {
				t.Errorf("Delete: %v", err)
			}
		})
	}
	wg.Wait()
	if got := len(list(t, s, "c/")); got != workers*7 {
		t.Errorf("List after concurrent puts found %d objects, want %d", got, workers*7)
	}
}

// testConcurrentSame has many goroutines put the same hash-named object
// while others read it: a reader sees all of it or nothing.
func testConcurrentSame(t *testing.T, s blob.Store) {
	data := randBytes(7, 1<<20)
	name := hashName("same", data)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range 4 {
				if w%2 == 0 {
					if err := s.Put(t.Context(), name, data); err != nil {
						t.Errorf("Put: %v", err)
					}
					continue
				}
				got, err := s.Get(t.Context(), name, 0, -1)
				switch {
				case errors.KindOf(err) == errors.NotExist:
				case err != nil:
					t.Errorf("Get: %v", err)
				case !bytes.Equal(got, data):
					t.Errorf("Get returned %d bytes that differ from the %d put", len(got), len(data))
				}
			}
		})
	}
	wg.Wait()
	checkGet(t, s, name, data)
	if got := list(t, s, "same/"); len(got) != 1 {
		t.Errorf("List after concurrent puts of one name = %q", got)
	}
}
