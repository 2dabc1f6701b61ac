package meta

import (
	"context"
	"database/sql"

	"github.com/dvpc/dvpc/internal/errors"
)

// MaxRecoveryCodes bounds the recovery codes an account may hold.
const MaxRecoveryCodes = 64

// Recover uses one recovery code of an account: in one transaction it
// deletes the code's hash (so each code works once), replaces the
// credentials, and logs the device in. A code the account does not hold
// is errors.Permission.
func (d *DB) Recover(ctx context.Context, accountID string, codeHash [32]byte, c Credentials, nd NewDevice) error {
	const op errors.Op = "meta.Recover"
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = ? AND hash = ?`, accountID, codeHash[:])
		if err != nil {
			return dbErr(op, err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.E(op, errors.Permission, errors.Str("no such recovery code"))
		}
		if err := setCredentials(ctx, tx, accountID, c); err != nil {
			return errors.E(op, err)
		}
		return opErr(op, loginDevice(ctx, tx, accountID, nd))
	})
}

// HasRecoveryCode reports whether an account holds the recovery code
// whose hash is given.
func (d *DB) HasRecoveryCode(ctx context.Context, accountID string, codeHash [32]byte) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE account_id = ? AND hash = ?`,
		accountID, codeHash[:]).Scan(&n)
	return n > 0, dbErr("meta.HasRecoveryCode", err)
}

// RecoveryCodes returns how many recovery codes an account holds.
func (d *DB) RecoveryCodes(ctx context.Context, accountID string) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE account_id = ?`, accountID).Scan(&n)
	return n, dbErr("meta.RecoveryCodes", err)
}

func replaceRecovery(ctx context.Context, tx *sql.Tx, accountID string, hashes [][32]byte) error {
	if len(hashes) > MaxRecoveryCodes {
		return errors.E(errors.Invalid, errors.Str("too many recovery codes"))
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = ?`, accountID); err != nil {
		return dbErr("", err)
	}
	for _, h := range hashes {
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO recovery_codes (account_id, hash) VALUES (?, ?)`, accountID, h[:])
		if err != nil {
			return dbErr("", err)
		}
	}
	return nil
}

// SetTOTPPending stores a TOTP secret made for an account, to be turned
// on by EnableTOTP once the user proves they hold it. It replaces any
// earlier pending secret.
func (d *DB) SetTOTPPending(ctx context.Context, accountID string, secret []byte) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET totp_pending = ? WHERE id = ?`, secret, accountID)
	return opErr("meta.SetTOTPPending", oneRow(res, err))
}

// EnableTOTP turns TOTP on with the pending secret, which must still be
// pending (a concurrent change is errors.Conflict), recording step, the
// time step of the code that confirmed it, as used.
func (d *DB) EnableTOTP(ctx context.Context, accountID string, pending []byte, step int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL,
		totp_step = max(totp_step, ?) WHERE id = ? AND totp_pending = ? AND totp_secret IS NULL`, step, accountID, pending)
	return conflict("meta.EnableTOTP", res, err, "TOTP changed meanwhile")
}

// UseTOTPStep records that a code of the given time step was used, if
// that step is newer than the newest used so far; otherwise the code is
// a replay and the error is errors.Conflict.
func (d *DB) UseTOTPStep(ctx context.Context, accountID string, step int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET totp_step = ? WHERE id = ? AND totp_step < ? AND totp_secret IS NOT NULL`,
		step, accountID, step)
	return conflict("meta.UseTOTPStep", res, err, "TOTP code already used")
}

// DisableTOTP turns TOTP off. A step above 0 is the time step of the code
// that proved the user, and must be newer than the newest used
// (errors.Conflict otherwise); an operator passes 0.
func (d *DB) DisableTOTP(ctx context.Context, accountID string, step int64) error {
	res, err := d.db.ExecContext(ctx, `UPDATE accounts SET totp_secret = NULL, totp_pending = NULL,
		totp_step = max(totp_step, ?) WHERE id = ? AND (? = 0 OR totp_step < ?)`, step, accountID, step, step)
	return conflict("meta.DisableTOTP", res, err, "TOTP code already used")
}

// conflict is oneRow for a conditional UPDATE: no row changed is
// errors.Conflict.
func conflict(op errors.Op, res sql.Result, err error, text string) error {
	if err != nil {
		return dbErr(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.E(op, errors.Conflict, errors.Str(text))
	}
	return nil
}
