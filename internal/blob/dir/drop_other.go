//go:build !linux

package dir

import "os"

// dropPages does nothing where there is no posix_fadvise to ask with.
func dropPages(*os.File) {}
