package dir

import (
	"context"
	stderrors "errors"
	"io/fs"
	"syscall"

	"github.com/dvpc/dvpc/internal/errors"
)

// errnoKinds classifies the operating system's errors. The text says what
// the user can do about it.
var errnoKinds = []struct {
	errno syscall.Errno
	kind  errors.Kind
	text  string
}{
	{syscall.ENOENT, errors.NotExist, "does not exist"},
	{syscall.ENOTDIR, errors.NotExist, "does not exist"},
	{syscall.ENOSPC, errors.IO, "the mirror's disk is full"},
	{syscall.EDQUOT, errors.IO, "the mirror's disk quota is exceeded"},
	{syscall.EROFS, errors.IO, "the mirror's file system is read-only"},
	{syscall.EIO, errors.IO, "the mirror's disk failed (I/O error)"},
	{syscall.EACCES, errors.Permission, "permission denied on the mirror folder"},
	{syscall.EPERM, errors.Permission, "operation not permitted on the mirror folder"},
	{syscall.ENAMETOOLONG, errors.Invalid, "object name too long for the mirror's file system"},
}

// mapErr turns an error from the os package into an *errors.Error of the
// right kind, or returns nil for nil.
func mapErr(op errors.Op, name string, err error) error {
	if err == nil {
		return nil
	}
	if stderrors.Is(err, context.Canceled) || stderrors.Is(err, context.DeadlineExceeded) {
		return errors.E(op, name, err)
	}
	for _, e := range errnoKinds {
		if stderrors.Is(err, e.errno) {
			return errors.E(op, e.kind, name, wrap(e.text, err))
		}
	}
	if stderrors.Is(err, fs.ErrNotExist) {
		return errors.E(op, errors.NotExist, name, err)
	}
	return errors.E(op, errors.IO, name, err)
}

// putErr is mapErr for Put, where a folder standing where the object
// should be, or an object where a folder should be, means the name cannot
// be used in this store.
func putErr(op errors.Op, name string, err error) error {
	for _, errno := range []syscall.Errno{syscall.ENOTDIR, syscall.EISDIR, syscall.EEXIST, syscall.ENOTEMPTY} {
		if stderrors.Is(err, errno) {
			return errors.E(op, errors.Invalid, name, wrap("object name collides with an existing object or folder", err))
		}
	}
	return mapErr(op, name, err)
}

// wrapped is an error that explains its cause in words and still unwraps
// to it, so that errors.Is(err, syscall.ENOSPC) keeps working.
type wrapped struct {
	text  string
	cause error
}

func wrap(text string, cause error) error { return &wrapped{text, cause} }

func (w *wrapped) Error() string { return w.text + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() error { return w.cause }
