package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// After hugeHeap, what the heap allocates next lies mostly in memory the
// kernel may back with huge pages (smaps: THPeligible 1), where it
// otherwise would not under enabled=madvise. (Some of it may fill holes
// the process freed before: a test binary has some.)
func TestHugeHeap(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !strings.Contains(string(mode), "[madvise]") {
		t.Skipf("transparent huge pages are not given on request here (%q, %v)", mode, err)
	}
	var live [][]byte // kept, so that no allocation reuses another's pages
	count := func() int {
		n := 0
		for range 16 {
			b := make([]byte, 1<<20)
			live = append(live, b)
			if eligible(t, b) {
				n++
			}
		}
		return n
	}
	if n := count(); n > 0 {
		t.Skipf("the heap has huge pages here without asking (%d of 16 MiB)", n)
	}
	hugeHeap(32 << 20)
	if n := count(); n < 8 {
		t.Fatalf("%d of 16 MiB allocated after hugeHeap are in memory advised for huge pages, want most", n)
	}
	runtime.KeepAlive(live)
}

// eligible reports whether smaps says the mapping holding b may have
// huge pages.
func eligible(t *testing.T, b []byte) bool {
	t.Helper()
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x", &lo, &hi); n == 2 && strings.Contains(line, " ") {
			in = lo <= addr && addr < hi
			continue
		}
		if in && strings.HasPrefix(line, "THPeligible:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "THPeligible:")) == "1"
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return false
}

// A mount and an export ask for more huge pages than other commands; an
// import keeps the smaller region that holds its peak under borg's.
func TestHugeHeapSize(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want uintptr
	}{
		{[]string{"mount", "/mnt"}, mountHugeHeapBytes},
		{[]string{"up"}, mountHugeHeapBytes},
		{[]string{"export", "/tmp/x"}, exportHugeHeapBytes},
		{[]string{"import", "/src"}, hugeHeapBytes},
		{[]string{"cat", "/a"}, hugeHeapBytes},
		{nil, hugeHeapBytes},
	} {
		if got := hugeHeapSize(c.argv); got != c.want {
			t.Errorf("%q: %d MiB, want %d", c.argv, got>>20, c.want>>20)
		}
	}
	if !(hugeHeapBytes < exportHugeHeapBytes && exportHugeHeapBytes < mountHugeHeapBytes) {
		t.Error("the regions are not ordered as the commands' working sets are")
	}
}
