package main

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// afterGC calls its function after each collection, each time: the next
// call is armed before the function runs (armed after, a collection that
// began meanwhile missed it).
func TestAfterGC(t *testing.T) {
	calls := make(chan struct{}, 1)
	stop := afterGC(func() {
		select {
		case calls <- struct{}{}:
		default:
		}
	})
	for i := range 3 {
		runtime.GC()
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("no call within 10 s of collection %d", i+1)
		}
	}
	stop()
}

// Once a collection has measured a live heap above the floor, the soft
// limit is that heap and its slack, not the floor: the collector does not
// run again at once.
func TestPaceMemoryFollowsLiveHeap(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	const floor = 8 << 20
	debug.SetMemoryLimit(floor)
	stop := paceMemory(floor, func(live int64) int64 { return live / 4 })
	defer stop()
	held := make([]byte, 96<<20)
	for i := range held {
		held[i] = byte(i)
	}
	runtime.GC()
	deadline := time.Now().Add(10 * time.Second)
	for debug.SetMemoryLimit(-1) < 96<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d MiB 10 s after a collection with 96 MiB live", debug.SetMemoryLimit(-1)>>20)
		}
		runtime.Gosched()
	}
	runtime.KeepAlive(held)
}
