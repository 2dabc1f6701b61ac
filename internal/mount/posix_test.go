package mount_test

import (
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/volume"
)

// notKept are the tests of go-fuse's POSIX suite for what a volume does
// not keep, with the reason.
var notKept = map[string]string{
	"Link":             "hard links: a volume keeps paths, not inodes (docs/ARCHITECTURE.md)",
	"LinkUnlinkRename": "hard links: a volume keeps paths, not inodes (docs/ARCHITECTURE.md)",
	"XAttr":            "extended attributes are not in the journal yet",
	"XAttrLarge":       "extended attributes are not in the journal yet",
	// POSIX locks are the kernel's, on this PC, as on a local disk: one
	// process's second descriptor does not conflict with its first; the
	// suite expects the locks of a pass-through to an OFD-locking file
	// system.
	"FcntlFlockLocksFile": "locks are the kernel's own, as on a local file system",
}

// TestPOSIX runs go-fuse's POSIX test suite against a writable mount.
func TestPOSIX(t *testing.T) {
	canMount(t)
	var names []string
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if why, ok := notKept[name]; ok {
				t.Skip(why)
			}
			tv := volume.NewTest(t, mem.New(), "pc", nil)
			r := mountRW(t, tv.Volume, "")
			posixtest.All[name](t, r.dir)
		})
	}
}
