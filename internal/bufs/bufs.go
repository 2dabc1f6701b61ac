// Package bufs keeps large buffers for reuse while they are in use.
//
// A sync.Pool drops what it holds at the garbage collector's second
// cycle. A mount writing a large file holds tens of MB of live heap (the
// tree, the index) and collects every 150 ms or so: each collection then
// emptied the pools of the writer's 8 MiB chunk buffers and 2 MiB sealing
// buffers, and each new one cost the kernel's zeroing of fresh pages and
// a page fault per 4 KiB (or 2 MiB) of it, on the writer's path. A List
// keeps a few buffers whatever the collector does, and lets them go when
// it has not been used for a while.
package bufs

import (
	"sync"
	"time"
)

// A List holds up to a number of values for reuse, and drops them all
// once it has gone unused for its idle time. Its zero value is not
// usable; make one with New. It is safe for concurrent use.
type List[T any] struct {
	most int
	idle time.Duration

	mu    sync.Mutex
	free  []T
	used  bool        // Get or Put since the timer last fired
	timer *time.Timer // armed while free holds anything
}

// New returns a List that keeps up to most values, for idle after its
// last use.
func New[T any](most int, idle time.Duration) *List[T] {
	return &List[T]{most: most, idle: idle}
}

// Get removes a value from the list and returns it, if there is one.
func (l *List[T]) Get() (T, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used = true
	var v T
	if len(l.free) == 0 {
		return v, false
	}
	v = l.free[len(l.free)-1]
	l.free[len(l.free)-1] = *new(T)
	l.free = l.free[:len(l.free)-1]
	return v, true
}

// Put adds v to the list, unless it holds its most already.
func (l *List[T]) Put(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used = true
	if len(l.free) >= l.most {
		return
	}
	l.free = append(l.free, v)
	if l.timer == nil {
		l.timer = time.AfterFunc(l.idle, l.expire)
	}
}

// expire drops what the list holds if it went unused for its idle time,
// and else looks again after another.
func (l *List[T]) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.used && len(l.free) > 0 {
		l.used = false
		l.timer.Reset(l.idle)
		return
	}
	clear(l.free)
	l.free = l.free[:0]
	l.timer = nil
}
