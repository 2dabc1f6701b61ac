// Package meta is the metadata store of a DVPC server: accounts, devices
// and their tokens, recovery code hashes, TOTP state, quotas and usage,
// kept in one SQLite database (DATA/meta.db) in WAL mode.
//
// It owns the schema and its migrations, and makes every change that must
// go together one transaction. It keeps nothing in memory between calls,
// so that an operator's command changing the same database (disabling an
// account, setting a quota) takes effect on a running server at once.
//
// It stores only hashes of what proves a user (auth keys, tokens, recovery
// codes), never the secrets themselves, and never interprets an envelope.
package meta

import (
	"context"
	"crypto/rand"
	"database/sql"
	"strconv"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/errors"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// DB is an open metadata database. It is safe for concurrent use, also by
// several processes sharing the file.
type DB struct {
	db     *sql.DB
	secret []byte

	// The statements of every authenticated request, prepared once:
	// parsing SQL cost more than running it.
	authStmt    *sql.Stmt // a device by token hash
	accountStmt *sql.Stmt // an account by id
}

// SecretSize is the size of the server secret.
const SecretSize = 32

// busyTimeout is how long a statement waits for another connection's or
// process's write lock before failing as Unavailable.
const busyTimeout = 10 * time.Second

// Open opens the database in the file path, creating it and migrating its
// schema to this build's version if needed. A database written by a newer
// build is refused (errors.Version).
func Open(path string) (*DB, error) {
	const op errors.Op = "meta.Open"
	if strings.ContainsAny(path, "?#") {
		return nil, errors.E(op, errors.Invalid, path, errors.Str("the data folder's path may not hold '?' or '#'"))
	}
	// Every transaction begins IMMEDIATE: it takes the write lock at once,
	// so two writers queue on busy_timeout instead of failing mid-way.
	dsn := path + "?_txlock=immediate" +
		"&_pragma=busy_timeout(" + strconv.FormatInt(busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, errors.E(op, errors.IO, path, err)
	}
	sdb.SetMaxOpenConns(8)
	sdb.SetConnMaxIdleTime(time.Minute)
	d := &DB{db: sdb}
	if err := d.migrate(context.Background()); err != nil {
		sdb.Close()
		return nil, errors.E(op, path, err)
	}
	if err := d.loadSecret(context.Background()); err != nil {
		sdb.Close()
		return nil, errors.E(op, path, err)
	}
	if d.authStmt, err = sdb.Prepare(`SELECT ` + deviceCols + `, account_id FROM devices WHERE token_hash = ?`); err == nil {
		d.accountStmt, err = sdb.Prepare(`SELECT ` + accountCols + ` FROM accounts WHERE id = ?`)
	}
	if err != nil {
		sdb.Close()
		return nil, errors.E(op, errors.IO, path, err)
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error {
	d.authStmt.Close()
	d.accountStmt.Close()
	if err := d.db.Close(); err != nil {
		return errors.E(errors.Op("meta.Close"), errors.IO, err)
	}
	return nil
}

// Secret returns the server secret: random bytes made when the database
// was created, never shown to a client, used to derive what must look the
// same on every call without being guessable (fake prelogin salts).
func (d *DB) Secret() []byte { return append([]byte(nil), d.secret...) }

// loadSecret reads the server secret, making it first if there is none.
// INSERT OR IGNORE lets two processes opening a new database race safely:
// both then read the one that won.
func (d *DB) loadSecret(ctx context.Context) error {
	fresh := make([]byte, SecretSize)
	if _, err := rand.Read(fresh); err != nil {
		return errors.E(errors.IO, err)
	}
	if _, err := d.db.ExecContext(ctx, `INSERT OR IGNORE INTO server (key, value) VALUES ('secret', ?)`, fresh); err != nil {
		return dbErr("meta.secret", err)
	}
	err := d.db.QueryRowContext(ctx, `SELECT value FROM server WHERE key = 'secret'`).Scan(&d.secret)
	if err != nil {
		return dbErr("meta.secret", err)
	}
	if len(d.secret) != SecretSize {
		return errors.E(errors.Op("meta.secret"), errors.Corrupt, errors.Str("the server secret has the wrong length"))
	}
	return nil
}

// tx runs fn in one transaction, committing if it returns nil.
func (d *DB) tx(ctx context.Context, op errors.Op, fn func(*sql.Tx) error) error {
	t, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(op, err)
	}
	if err := fn(t); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return dbErr(op, err)
	}
	return nil
}

// unixNano and fromUnixNano store times as integers of nanoseconds.
func unixNano(t time.Time) int64 { return t.UnixNano() }

func fromUnixNano(n int64) time.Time { return time.Unix(0, n).UTC() }
