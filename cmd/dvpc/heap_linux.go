package main

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugeHeapBytes is how much of a command's heap hugeHeap asks huge pages
// for: what a cat, an ls or an unchanged import uses (25–35 MB), and not
// so much that the import's peak grows (2 MiB pages round up what is
// resident; 64 MiB took it from 85 to 89 MiB).
const hugeHeapBytes = 32 << 20

// exportHugeHeapBytes is hugeHeapBytes for an export, whose workers'
// buffers are made again after each collection: 16,000-19,000 page faults
// in an export of the bench corpus, 5,900-9,100 with 128 MiB advised, and
// 1.42-1.50 → 1.25-1.40 s into /dev/shm. A cat took 4-5 ms longer with
// 128 MiB, so only the export asks for it.
const exportHugeHeapBytes = 128 << 20

// mountHugeHeapBytes is hugeHeapBytes for a mount: the buffers a large
// file's first read fills (the windows read ahead, the spans of packs,
// the cache's queue: 100–150 MB) are touched first while the reader
// waits. In 4 KiB pages that was 33,000 faults, a sixth of the read's
// CPU; in 2 MiB pages, 270 faults, and the first read of a 500 MB file
// went from 380–400 to 480–590 MB/s with the same resident memory.
const mountHugeHeapBytes = 256 << 20

// hugeHeap asks the kernel to back the next n bytes of the heap with
// transparent huge pages, where the system gives them to who asks
// (enabled=madvise, a common default); the Go runtime does not ask. A
// command that ends pays for every page of memory it touches
// first, and on a virtual machine a 4 KiB fault costs 10–15 µs: cat spent
// more than half its time in the kernel, 3,500 faults. The runtime grows
// its heap into a new mapping each time, which would not inherit the
// advice, so the space is made first: a block of n bytes is allocated and
// freed (never touched), the advice given on its range, and the heap's
// next allocations take those pages, lowest address first.
func hugeHeap(n uintptr) {
	b := make([]byte, n)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	b = nil
	runtime.GC() // frees b's pages for the allocations to come
	const huge = 2 << 20
	beg, end := (base+huge-1)&^(huge-1), (base+n)&^(huge-1)
	if beg < end {
		// Only advice: without huge pages the heap is as it was.
		unix.Syscall(unix.SYS_MADVISE, beg, end-beg, unix.MADV_HUGEPAGE)
	}
}
