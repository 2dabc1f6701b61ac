package meta

import (
	"context"
	"database/sql"
	stderrors "errors"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// ErrRevoked is the cause of the errors.Permission error that Login and
// Recover return for a device id that was revoked: a revoked id stays
// revoked, and the PC must log in as a new device.
var ErrRevoked = errors.Str("this device was revoked")

// Device is one login of an account on one PC.
type Device struct {
	ID       string // 32 hex digits, chosen by the client
	Name     string
	Created  time.Time
	LastSeen time.Time
	Revoked  time.Time // zero when not revoked
}

// NewDevice is a login: the device's id and name, and the hash of the
// token it is given. A known id gets the new token in place of its old one.
type NewDevice struct {
	ID        string
	Name      string
	TokenHash [32]byte
	Now       time.Time
}

// Session is what a token opens: its account and device, read together.
type Session struct {
	Account Account
	Device  Device
}

// LastSeenResolution is how stale a device's last_seen may be: Touch
// writes it only when it is older than this, so that requests do not each
// cost a write.
const LastSeenResolution = time.Minute

const deviceCols = `id, name, created, last_seen, revoked_at`

func scanDevice(s scanner, dv *Device, extra ...any) error {
	var created, seen int64
	var revoked sql.NullInt64
	if err := s.Scan(append([]any{&dv.ID, &dv.Name, &created, &seen, &revoked}, extra...)...); err != nil {
		return err
	}
	dv.Created, dv.LastSeen = fromUnixNano(created), fromUnixNano(seen)
	if revoked.Valid {
		dv.Revoked = fromUnixNano(revoked.Int64)
	}
	return nil
}

// Login gives the device nd of an account a new token: a new id is a new
// device; a known one, unless revoked, has its token replaced.
func (d *DB) Login(ctx context.Context, accountID string, nd NewDevice) error {
	const op errors.Op = "meta.Login"
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		return opErr(op, loginDevice(ctx, tx, accountID, nd))
	})
}

func loginDevice(ctx context.Context, tx *sql.Tx, accountID string, nd NewDevice) error {
	var revoked sql.NullInt64
	err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM devices WHERE account_id = ? AND id = ?`,
		accountID, nd.ID).Scan(&revoked)
	now := unixNano(nd.Now)
	switch {
	case stderrors.Is(err, sql.ErrNoRows):
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (account_id, id, name, token_hash, created, last_seen)
			VALUES (?, ?, ?, ?, ?, ?)`, accountID, nd.ID, nd.Name, nd.TokenHash[:], now, now)
	case err != nil:
	case revoked.Valid:
		return errors.E(errors.Permission, nd.ID, ErrRevoked)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE devices SET name = ?, token_hash = ?, last_seen = ?
			WHERE account_id = ? AND id = ?`, nd.Name, nd.TokenHash[:], now, accountID, nd.ID)
	}
	return dbErr("", err)
}

// Authenticate returns the session of the token whose hash is given, or
// errors.NotExist. It returns revoked devices and disabled accounts too:
// the caller refuses them, each with its own error.
func (d *DB) Authenticate(ctx context.Context, tokenHash [32]byte) (Session, error) {
	const op errors.Op = "meta.Authenticate"
	var s Session
	var accountID string
	err := scanDevice(d.authStmt.QueryRowContext(ctx, tokenHash[:]), &s.Device, &accountID)
	if err != nil {
		return s, dbErr(op, err)
	}
	s.Account, err = d.Account(ctx, accountID)
	return s, opErr(op, err)
}

// Touch records that a device made a request at now, if its last_seen is
// older than LastSeenResolution.
func (d *DB) Touch(ctx context.Context, accountID, deviceID string, now time.Time) error {
	_, err := d.db.ExecContext(ctx, `UPDATE devices SET last_seen = ? WHERE account_id = ? AND id = ? AND last_seen < ?`,
		unixNano(now), accountID, deviceID, unixNano(now.Add(-LastSeenResolution)))
	return dbErr("meta.Touch", err)
}

// Logout makes the token whose hash is given stop working. The device
// stays, and may log in again.
func (d *DB) Logout(ctx context.Context, tokenHash [32]byte) error {
	_, err := d.db.ExecContext(ctx, `UPDATE devices SET token_hash = NULL WHERE token_hash = ?`, tokenHash[:])
	return dbErr("meta.Logout", err)
}

// Devices returns an account's devices, revoked ones included, oldest
// first.
func (d *DB) Devices(ctx context.Context, accountID string) ([]Device, error) {
	const op errors.Op = "meta.Devices"
	rows, err := d.db.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE account_id = ? ORDER BY created, id`, accountID)
	if err != nil {
		return nil, dbErr(op, err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var dv Device
		if err := scanDevice(rows, &dv); err != nil {
			return nil, dbErr(op, err)
		}
		out = append(out, dv)
	}
	return out, dbErr(op, rows.Err())
}

// Revoke revokes a device of an account: its token is refused from now
// on, and its id cannot log in again. Revoking a revoked device is not an
// error; an unknown one is errors.NotExist.
func (d *DB) Revoke(ctx context.Context, accountID, deviceID string, now time.Time) error {
	const op errors.Op = "meta.Revoke"
	return d.tx(ctx, op, func(tx *sql.Tx) error {
		var revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM devices WHERE account_id = ? AND id = ?`,
			accountID, deviceID).Scan(&revoked)
		if err != nil || revoked.Valid {
			return dbErr(op, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE account_id = ? AND id = ?`,
			unixNano(now), accountID, deviceID)
		return dbErr(op, err)
	})
}
