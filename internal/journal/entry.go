package journal

import (
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
)

// HLC is a hybrid logical clock reading: the upper 48 bits are milliseconds
// since 1970 (UTC), the lower 16 a counter that orders events within one
// millisecond. If change a could have been seen by the writer of change b,
// then a's HLC is less than b's.
type HLC uint64

// MakeHLC returns the clock reading for wall time t with counter 0.
func MakeHLC(t time.Time) HLC { return HLC(uint64(t.UnixMilli()) << 16) }

// Time returns the wall-clock part.
func (h HLC) Time() time.Time { return time.UnixMilli(int64(h >> 16)) }

// Next returns the clock reading for a new local event: later than h (the
// last reading this device issued or saw) and not earlier than now.
func (h HLC) Next(now time.Time) HLC {
	if w := MakeHLC(now); w > h {
		return w
	}
	return h + 1
}

// Op is what an entry does to its path.
type Op uint8

// The operations.
const (
	Put     Op = 1 // the file at Path now has this content and metadata
	Mkdir   Op = 2 // Path is a folder
	Symlink Op = 3 // Path is a symbolic link to Target
	Delete  Op = 4 // Path no longer exists
)

func (o Op) String() string {
	switch o {
	case Put:
		return "put"
	case Mkdir:
		return "mkdir"
	case Symlink:
		return "symlink"
	case Delete:
		return "delete"
	}
	return "op?"
}

// Version names one entry of one device: its writer and its clock reading.
type Version struct {
	Device dvpc.DeviceID
	Time   HLC
}

// IsZero reports whether v names nothing.
func (v Version) IsZero() bool { return v == Version{} }

// Less orders versions by time, then device: the total order of the merge.
func (v Version) Less(w Version) bool {
	if v.Time != w.Time {
		return v.Time < w.Time
	}
	return string(v.Device[:]) < string(w.Device[:])
}

// ChunkRef is one chunk of a file's content, in order.
type ChunkRef struct {
	ID   dvpc.ChunkID
	Size uint32
}

// Entry is one change.
type Entry struct {
	Time   HLC
	Op     Op
	Path   string
	Base   Version // the version of Path the writer saw; zero if none
	Mode   uint32  // permission bits
	MTime  int64   // modification time, ns since 1970
	Size   uint64
	Target string
	Chunks []ChunkRef
}

// MaxPath bounds a path's length in bytes.
const MaxPath = 4096

// CleanPath returns the canonical form of a path in a volume: absolute,
// slash-separated, no "." or ".." elements, no empty elements, valid UTF-8,
// no NUL. It refuses paths that cannot be made so.
func CleanPath(p string) (string, error) {
	const op errors.Op = "journal.CleanPath"
	if canonical(p) {
		// Every path decoded from a journal or a checkpoint is checked
		// so: a million of them took 0.7 s through the general case.
		return p, nil
	}
	if !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
		return "", errors.E(op, errors.Invalid, p, errors.Str("path is not valid UTF-8 or holds a NUL byte"))
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", errors.E(op, errors.Invalid, p, errors.Str(`path may not contain ".."`))
		}
	}
	// The length is that of the clean form: "a/" and "/a" are one path,
	// and one that grows past the bound by its leading slash could be
	// written but never read back.
	c := path.Clean("/" + p)
	if len(c) > MaxPath {
		return "", errors.E(op, errors.Invalid, p, errors.Str("path is longer than "+strconv.Itoa(MaxPath)+" bytes"))
	}
	return c, nil
}

// canonical reports whether p is already in the form CleanPath gives,
// in one pass and without allocating.
func canonical(p string) bool {
	if len(p) == 0 || len(p) > MaxPath || p[0] != '/' {
		return false
	}
	if p == "/" {
		return true
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			if p[i] == 0 {
				return false
			}
			continue
		}
		if elem := p[start:i]; elem == "" || elem == "." || elem == ".." {
			return false // also a trailing slash, and "//"
		}
		start = i + 1
	}
	return utf8.ValidString(p)
}

// Check reports whether e is an entry the decoder would accept back.
// Writers call it before an entry enters a segment: one that fails here
// would make its whole segment unreadable.
func Check(e *Entry) error {
	if err := validEntry(e); err != nil {
		return errors.E(errors.Op("journal.Check"), errors.Invalid, e.Path, err)
	}
	return nil
}

// validEntry checks what the decoder cannot: a path in canonical form, and
// fields that fit the op.
func validEntry(e *Entry) error {
	if len(e.Path) > MaxPath {
		return errors.Str("entry path is longer than " + strconv.Itoa(MaxPath) + " bytes")
	}
	if c, err := CleanPath(e.Path); err != nil || c != e.Path || e.Path == "/" && e.Op != Mkdir {
		return errors.Str("entry path is not canonical")
	}
	switch e.Op {
	case Put, Mkdir, Delete:
		if e.Target != "" {
			return errors.Str("target on a non-symlink entry")
		}
	case Symlink:
		if len(e.Target) > MaxPath {
			return errors.Str("symlink target is too long")
		}
	default:
		return errors.Str("unknown entry op")
	}
	if e.Op != Put && len(e.Chunks) > 0 {
		return errors.Str("chunks on an entry that is not a file")
	}
	var sum uint64
	for _, c := range e.Chunks {
		sum += uint64(c.Size)
	}
	if e.Op == Put && sum != e.Size {
		return errors.Str("chunk sizes do not add up to the file size")
	}
	return nil
}
