// Package errors gives DVPC's errors their structure: the operation that
// failed, the kind of failure, the path or object it concerns, and the cause.
// Kinds become exit codes at the CLI and errnos at the FUSE boundary, each
// in one table; nothing else should branch on error text.
//
// Errors built here unwrap, so the standard errors.Is and errors.As work.
package errors

import (
	stderrors "errors"
	"strings"

	"github.com/dvpc/dvpc/internal/dvpc"
)

// Kind classifies an error by what the user or caller can do about it.
type Kind uint8

// The kinds of error. Add a kind only when some caller must act on it.
const (
	Other       Kind = iota // unclassified
	Invalid                 // bad input: a malformed argument or request
	NotExist                // no such file, version, object or volume
	Exist                   // already exists
	Permission              // wrong passphrase or key, or not allowed
	Conflict                // a concurrent change won
	Unavailable             // a mirror or service cannot be reached; retry later
	Corrupt                 // stored bytes fail their hash, AEAD or signature
	Version                 // written by a newer format version; upgrade
	IO                      // the local disk failed (full, read-only, ...)
	IsDir                   // a file was expected, a folder was found
	NotDir                  // a folder was expected, a file was found
	NotEmpty                // the folder is not empty
	Full                    // a mirror is over its quota or out of disk; retry later
)

var kindNames = [...]string{
	Other:       "error",
	Invalid:     "invalid",
	NotExist:    "does not exist",
	Exist:       "already exists",
	Permission:  "permission denied",
	Conflict:    "conflict",
	Unavailable: "unavailable",
	Corrupt:     "corrupt",
	Version:     "newer format",
	IO:          "I/O error",
	IsDir:       "is a folder",
	NotDir:      "not a folder",
	NotEmpty:    "folder not empty",
	Full:        "mirror full",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown error kind"
}

// Op names the operation that failed, such as "pack.Read" or "dvpc import".
type Op string

// Error is DVPC's structured error.
type Error struct {
	Op   Op
	Kind Kind
	Path string // a file path or object name, if any
	Err  error  // the cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(string(e.Op))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	switch {
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString(e.Kind.String())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the outermost classified error in err's chain,
// or Other.
func KindOf(err error) Kind {
	for err != nil {
		if e, ok := err.(*Error); ok && e.Kind != Other {
			return e.Kind
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if k := KindOf(e); k != Other {
					return k
				}
			}
			return Other
		}
		if h, ok := err.(*dvpc.HeaderError); ok {
			if h.NewerVersion {
				return Version
			}
			return Corrupt
		}
		err = stderrors.Unwrap(err)
	}
	return Other
}

// Is reports whether err's chain holds an error of kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }

// E builds an *Error from its arguments, by type: an Op, a Kind, a string
// (the path), an error (the cause). If the cause is an *Error and no kind is
// given, the cause's kind is kept.
func E(args ...any) error {
	e := &Error{}
	for _, a := range args {
		switch a := a.(type) {
		case Op:
			e.Op = a
		case Kind:
			e.Kind = a
		case string:
			e.Path = a
		case *Error:
			e.Err = a
		case error:
			e.Err = a
		case nil:
		default:
			panic("errors.E: bad argument type")
		}
	}
	if e.Kind == Other && e.Err != nil {
		e.Kind = KindOf(e.Err)
	}
	return e
}

// Str returns a plain error with the given text, for use as a cause.
func Str(text string) error { return stderrors.New(text) }

// As and Unwrap forward to the standard library for convenience.
var (
	As     = stderrors.As
	Unwrap = stderrors.Unwrap
	Join   = stderrors.Join
)
