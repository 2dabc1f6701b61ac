// Package blob defines a mirror: a dumb store of named objects that does
// five things (put, get with a byte range, stat, list by prefix, delete) and
// needs no keys. Kinds of mirror live in sub-packages (dir, mem, and later
// http and s3); features such as fault injection, read-only access or
// replication are wrappers around the same interface.
//
// A mirror never interprets the bytes it holds. It may verify one thing
// without keys: an object whose name ends in a SHA-256 (see Sum) must hash
// to it.
package blob

import (
	"context"
	"encoding/hex"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// Store is a mirror.
//
// Contract, which blobtest checks for every kind:
//   - Put is atomic: a reader sees the whole object or nothing, never part
//     of one, even if the writer is killed. When Put returns nil the object
//     is durable (synced to stable storage). Putting an existing name with
//     the same bytes succeeds; names are written once in practice, and a
//     store may refuse to replace an object named by its hash with
//     different bytes (errors.Corrupt).
//   - Get returns length bytes from offset off; length < 0 means to the end.
//     A range past the end is truncated to the object, as HTTP does. A
//     missing object is errors.NotExist. The bytes are the caller's: the
//     store keeps no reference to them, and the caller may change them.
//   - List calls fn for every object whose name starts with prefix, in
//     lexical order of name. It stops at the first error fn returns.
//   - Delete of a missing object is not an error.
//   - Errors carry a Kind: NotExist, Invalid (a bad name), Corrupt,
//     Unavailable (the store cannot be reached; retry later), IO.
//
// Names are relative, slash-separated paths whose elements match
// [A-Za-z0-9._-]{1,255} and are not "." or ".."; see ValidName.
type Store interface {
	Put(ctx context.Context, name string, data []byte) error
	Get(ctx context.Context, name string, off, length int64) ([]byte, error)
	Stat(ctx context.Context, name string) (Info, error)
	List(ctx context.Context, prefix string, fn func(Info) error) error
	Delete(ctx context.Context, name string) error
}

// Info describes one stored object.
type Info struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// MaxNameLen bounds the length of an object name, and MaxElemLen the
// length of each element: most file systems refuse a longer file name, so
// a longer element could not be kept on a dir mirror.
const (
	MaxNameLen = 512
	MaxElemLen = 255
)

// ValidName reports, as an errors.Invalid error, why name cannot name an
// object, or nil if it can.
func ValidName(name string) error {
	const op errors.Op = "blob.ValidName"
	if name == "" || len(name) > MaxNameLen {
		return errors.E(op, errors.Invalid, errors.Str("object name is empty or too long"))
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." || len(elem) > MaxElemLen {
			return errors.E(op, errors.Invalid, name, errors.Str("bad path element in object name"))
		}
		for i := 0; i < len(elem); i++ {
			c := elem[i]
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
			if !ok {
				return errors.E(op, errors.Invalid, name, errors.Str("bad character in object name"))
			}
		}
	}
	return nil
}

// Check returns the error that stops an operation on name before it
// starts, for stores to call first: a cancelled context or an invalid name.
func Check(ctx context.Context, op errors.Op, name string) error {
	if err := ctx.Err(); err != nil {
		return errors.E(op, name, err)
	}
	if err := ValidName(name); err != nil {
		return errors.E(op, err)
	}
	return nil
}

// Sum returns the SHA-256 that an object's name promises, if it makes one:
// the last path element is 64 lower-case hex digits, or ends with a dot or
// dash followed by them. Stores use it to refuse objects whose bytes do not
// match their name.
func Sum(name string) (sum [32]byte, ok bool) {
	base := name[strings.LastIndexByte(name, '/')+1:]
	if len(base) < 64 {
		return sum, false
	}
	tail := base[len(base)-64:]
	if len(base) > 64 {
		if c := base[len(base)-65]; c != '.' && c != '-' {
			return sum, false
		}
	}
	for i := 0; i < len(tail); i++ {
		c := tail[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return sum, false
		}
	}
	if _, err := hex.Decode(sum[:], []byte(tail)); err != nil {
		return sum, false
	}
	return sum, true
}
