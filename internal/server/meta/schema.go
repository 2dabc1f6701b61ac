package meta

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/dvpc/dvpc/internal/errors"
)

// migrations[i] takes the schema from version i to version i+1. The
// version is SQLite's user_version. Append to this list; never edit an
// entry that has shipped.
//
// Times are Unix nanoseconds (UTC). Hashes are SHA-256, 32 bytes. Ids are
// lower-case hex: 32 digits for accounts and devices.
var migrations = []string{
	// 1: accounts, devices, recovery codes, the server secret.
	`
CREATE TABLE accounts (
	id             TEXT    PRIMARY KEY,
	user           TEXT    NOT NULL UNIQUE,
	auth_hash      BLOB    NOT NULL,          -- SHA-256 of the client's auth key
	kdf_time       INTEGER NOT NULL,          -- copied from the envelope
	kdf_memory_kib INTEGER NOT NULL,
	kdf_threads    INTEGER NOT NULL,
	salt           BLOB    NOT NULL,
	envelope       BLOB    NOT NULL,          -- the object "account", as last committed
	quota          INTEGER NOT NULL DEFAULT 0, -- bytes; 0 is none
	used           INTEGER NOT NULL DEFAULT 0, -- bytes of objects stored
	disabled       INTEGER NOT NULL DEFAULT 0,
	totp_secret    BLOB,                      -- TOTP is on when set
	totp_pending   BLOB,                      -- made, not yet confirmed
	totp_step      INTEGER NOT NULL DEFAULT 0, -- newest time step used
	created        INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
	account_id TEXT    NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	id         TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	token_hash BLOB    UNIQUE,                -- SHA-256 of the token; NULL after logout
	created    INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	revoked_at INTEGER,
	PRIMARY KEY (account_id, id)
) STRICT;

CREATE TABLE recovery_codes (
	account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
	hash       BLOB NOT NULL,
	PRIMARY KEY (account_id, hash)
) STRICT;

CREATE TABLE server (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;
`,
}

// Version is the schema version this build writes.
var Version = len(migrations)

// migrate brings the schema to Version in one transaction, which holds the
// write lock, so two processes opening an old database migrate it once.
func (d *DB) migrate(ctx context.Context) error {
	const op errors.Op = "meta.migrate"
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		var v int
		if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
			return dbErr(op, err)
		}
		if v > len(migrations) {
			return errors.E(op, errors.Version, errors.Str("the server database was written by a newer dvpc (schema version "+
				strconv.Itoa(v)+", this build knows "+strconv.Itoa(len(migrations))+"): upgrade dvpc"))
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return dbErr(op, err)
			}
		}
		// PRAGMA takes no bound parameters; v is an int we control.
		if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(v)); err != nil {
			return dbErr(op, err)
		}
		return nil
	})
}
