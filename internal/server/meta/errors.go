package meta

import (
	"context"
	"database/sql"
	stderrors "errors"

	"modernc.org/sqlite"

	"github.com/dvpc/dvpc/internal/errors"
)

// SQLite's primary result codes that callers must act on
// (https://sqlite.org/rescode.html).
const (
	sqliteBusy       = 5
	sqliteLocked     = 6
	sqliteFull       = 13
	sqliteConstraint = 19
)

// dbErr classifies an error from database/sql: no row is NotExist, a
// uniqueness clash Exist, a lock still held after busy_timeout Unavailable,
// a full disk Full; the rest IO.
func dbErr(op errors.Op, err error) error {
	if err == nil {
		return nil
	}
	if stderrors.Is(err, context.Canceled) || stderrors.Is(err, context.DeadlineExceeded) {
		return errors.E(op, err)
	}
	if stderrors.Is(err, sql.ErrNoRows) {
		return errors.E(op, errors.NotExist, err)
	}
	var se *sqlite.Error
	if stderrors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteBusy, sqliteLocked:
			return errors.E(op, errors.Unavailable, err)
		case sqliteFull:
			return errors.E(op, errors.Full, wrap("the server's disk is full", err))
		case sqliteConstraint:
			return errors.E(op, errors.Exist, err)
		}
	}
	return errors.E(op, errors.IO, err)
}

// wrapped explains its cause in words and still unwraps to it.
type wrapped struct {
	text  string
	cause error
}

func wrap(text string, cause error) error { return &wrapped{text, cause} }

func (w *wrapped) Error() string { return w.text + ": " + w.cause.Error() }
func (w *wrapped) Unwrap() error { return w.cause }

// opErr adds op to err, keeping nil nil.
func opErr(op errors.Op, err error) error {
	if err == nil {
		return nil
	}
	return errors.E(op, err)
}
