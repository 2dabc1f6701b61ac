package bufs

import (
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// TestListKeeps: what is put is got back, last in first out, up to the
// list's most, across garbage collections (where a sync.Pool drops it).
func TestListKeeps(t *testing.T) {
	l := New[*[]byte](2, time.Minute)
	if _, ok := l.Get(); ok {
		t.Fatal("an empty list gave a value")
	}
	a, b, c := new([]byte), new([]byte), new([]byte)
	l.Put(a)
	l.Put(b)
	l.Put(c) // beyond its most: dropped
	runtime.GC()
	runtime.GC()
	for _, want := range []*[]byte{b, a} {
		if got, ok := l.Get(); !ok || got != want {
			t.Fatalf("got %p %v, want %p", got, ok, want)
		}
	}
	if _, ok := l.Get(); ok {
		t.Fatal("the list gave more than it kept")
	}
}

// TestListIdle: the list lets its values go once unused for its idle
// time, and not while in use.
func TestListIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New[int](4, 10*time.Second)
		l.Put(1)
		l.Put(2)
		// In use every 6 s, for a minute: kept.
		for range 10 {
			time.Sleep(6 * time.Second)
			v, ok := l.Get()
			if !ok {
				t.Fatal("the list dropped its values while in use")
			}
			l.Put(v)
		}
		if l.Len() != 2 {
			t.Fatalf("%d kept, want 2", l.Len())
		}
		// Then unused: gone within two idle times.
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if l.Len() != 0 {
			t.Fatalf("%d kept after 20 s unused, want none", l.Len())
		}
		// And usable again.
		l.Put(3)
		if v, ok := l.Get(); !ok || v != 3 {
			t.Fatalf("got %d %v after a drop, want 3", v, ok)
		}
	})
}

// Len returns how many values the list holds.
func (l *List[T]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.free)
}
