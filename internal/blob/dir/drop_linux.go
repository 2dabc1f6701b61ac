package dir

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropPages asks the kernel to drop f's pages from the page cache. They
// must be on disk already (synced): dirty pages are not dropped.
func dropPages(f *os.File) {
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
