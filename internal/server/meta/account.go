package meta

import (
	"context"
	"database/sql"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// KDF are the Argon2id parameters of an account's envelope, copied here so
// that prelogin can answer without reading the envelope.
type KDF struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// Credentials are what proves a user and what a client needs to stretch
// the passphrase. They change together: at sign-up, passphrase change and
// recovery.
type Credentials struct {
	AuthHash [32]byte // SHA-256 of the auth key
	KDF      KDF
	Salt     [16]byte
	Envelope []byte // the object "account", as last committed
}

// Account is one user of the server.
type Account struct {
	ID   string // 32 hex digits; also the name of its folder of objects
	User string
	Credentials
	Quota       int64 // bytes; 0 is none
	Used        int64 // bytes of objects stored
	Disabled    bool
	TOTPSecret  []byte // nil when TOTP is off
	TOTPPending []byte // made by the user, not yet confirmed
	TOTPStep    int64  // the newest TOTP time step used
	Created     time.Time
}

// NewAccount is what CreateAccount stores.
type NewAccount struct {
	ID   string
	User string
	Credentials
	Used     int64      // the envelope's size, usually
	Recovery [][32]byte // hashes of recovery codes
	Device   *NewDevice // the first device, or nil
	Created  time.Time
}

const accountCols = `id, user, auth_hash, kdf_time, kdf_memory_kib, kdf_threads, salt, envelope,
	quota, used, disabled, totp_secret, totp_pending, totp_step, created`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanAccount(s scanner, a *Account) error {
	var auth, salt []byte
	var created int64
	err := s.Scan(&a.ID, &a.User, &auth, &a.KDF.Time, &a.KDF.MemoryKiB, &a.KDF.Threads, &salt, &a.Envelope,
		&a.Quota, &a.Used, &a.Disabled, &a.TOTPSecret, &a.TOTPPending, &a.TOTPStep, &created)
	if err != nil {
		return err
	}
	if len(auth) != len(a.AuthHash) || len(salt) != len(a.Salt) {
		// The database is damaged: the server's fault, not a client's.
		return errors.E(errors.IO, a.User, errors.Str("the database holds an auth hash or salt of the wrong length"))
	}
	copy(a.AuthHash[:], auth)
	copy(a.Salt[:], salt)
	a.Created = fromUnixNano(created)
	return nil
}

// CreateAccount stores a new account, its recovery codes and its first
// device in one transaction. A user name or id that is taken is
// errors.Exist.
func (d *DB) CreateAccount(ctx context.Context, a NewAccount) error {
	const op errors.Op = "meta.CreateAccount"
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, user, auth_hash, kdf_time, kdf_memory_kib, kdf_threads,
			salt, envelope, used, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, a.User, a.AuthHash[:], a.KDF.Time, a.KDF.MemoryKiB, a.KDF.Threads, a.Salt[:], a.Envelope,
			a.Used, unixNano(a.Created))
		if err != nil {
			return dbErr(op, err)
		}
		if err := replaceRecovery(ctx, tx, a.ID, a.Recovery); err != nil {
			return errors.E(op, err)
		}
		if a.Device != nil {
			return opErr(op, loginDevice(ctx, tx, a.ID, *a.Device))
		}
		return nil
	})
}

// Account returns the account with the given id, or errors.NotExist.
func (d *DB) Account(ctx context.Context, id string) (Account, error) {
	var a Account
	err := scanAccount(d.accountStmt.QueryRowContext(ctx, id), &a)
	return a, dbErr("meta.Account", err)
}

// AccountByUser returns the account of the user name, or errors.NotExist.
func (d *DB) AccountByUser(ctx context.Context, user string) (Account, error) {
	var a Account
	err := scanAccount(d.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE user = ?`, user), &a)
	return a, dbErr("meta.AccountByUser", err)
}

// Accounts returns every account, by user name.
func (d *DB) Accounts(ctx context.Context) ([]Account, error) {
	const op errors.Op = "meta.Accounts"
	rows, err := d.db.QueryContext(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY user`)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		if err := scanAccount(rows, &a); err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, a)
	}
	return out, dbErr(op, rows.Err())
}

// SetCredentials replaces an account's credentials and, unless recovery is
// nil, its set of recovery code hashes (an empty, non-nil slice removes
// them all), in one transaction.
func (d *DB) SetCredentials(ctx context.Context, id string, c Credentials, recovery [][32]byte) error {
	const op errors.Op = "meta.SetCredentials"
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		if err := setCredentials(ctx, tx, id, c); err != nil {
			return errors.E(op, err)
		}
		if recovery != nil {
			return opErr(op, replaceRecovery(ctx, tx, id, recovery))
		}
		return nil
	})
}

func setCredentials(ctx context.Context, tx *sql.Tx, id string, c Credentials) error {
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET auth_hash = ?, kdf_time = ?, kdf_memory_kib = ?, kdf_threads = ?,
		salt = ?, envelope = ? WHERE id = ?`,
		c.AuthHash[:], c.KDF.Time, c.KDF.MemoryKiB, c.KDF.Threads, c.Salt[:], c.Envelope, id)
	return oneRow(res, err)
}

// SetDisabled disables or enables an account. A disabled account's
// devices are refused on their next request.
func (d *DB) SetDisabled(ctx context.Context, id string, disabled bool) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET disabled = ? WHERE id = ?`, disabled, id)
	return opErr("meta.SetDisabled", oneRow(res, err))
}

// SetQuota sets an account's quota in bytes; 0 is none.
func (d *DB) SetQuota(ctx context.Context, id string, quota int64) error {
	if quota < 0 {
		return errors.E(errors.Op("meta.SetQuota"), errors.Invalid, errors.Str("negative quota"))
	}
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET quota = ? WHERE id = ?`, quota, id)
	return opErr("meta.SetQuota", oneRow(res, err))
}

// AddUsed adds delta (which may be negative) to an account's used bytes,
// never taking them below zero.
func (d *DB) AddUsed(ctx context.Context, id string, delta int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET used = max(0, used + ?) WHERE id = ?`, delta, id)
	return opErr("meta.AddUsed", oneRow(res, err))
}

// SetUsed sets an account's used bytes, after a recount.
func (d *DB) SetUsed(ctx context.Context, id string, used int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET used = ? WHERE id = ?`, max(used, 0), id)
	return opErr("meta.SetUsed", oneRow(res, err))
}

// oneRow turns the result of an UPDATE into nil if it changed a row, and
// errors.NotExist if it changed none.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return dbErr("", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbErr("", err)
	}
	if n == 0 {
		return errors.E(errors.NotExist, errors.Str("no such account or device"))
	}
	return nil
}
