package server

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/server/meta"
)

// Admin is an operator's access to a server's data folder, for the
// `dvpc serve account ...` commands. It opens the database directly, and
// may do so while a server runs on the same folder: SQLite serialises the
// writes, and the server reads an account on every request, so a change
// (disabling an account, a quota) counts at once.
type Admin struct {
	data string
	db   *meta.DB
}

// AccountInfo describes an account to an operator.
type AccountInfo struct {
	ID       string
	User     string
	Created  time.Time
	Quota    int64 // bytes; 0 is none
	Used     int64 // bytes
	Disabled bool
	TOTP     bool
	Devices  int // not revoked
}

// OpenAdmin opens the data folder data, making it if it does not exist
// (an operator may make accounts before the first start).
func OpenAdmin(data string) (*Admin, error) {
	const op errors.Op = "server.OpenAdmin"
	if err := os.MkdirAll(filepath.Join(data, "accounts"), 0o700); err != nil {
		return nil, errors.E(op, errors.IO, data, err)
	}
	db, err := meta.Open(filepath.Join(data, "meta.db"))
	if err != nil {
		return nil, errors.E(op, err)
	}
	return &Admin{data: data, db: db}, nil
}

// Close closes the database.
func (a *Admin) Close() error { return a.db.Close() }

// Accounts lists every account with its usage, by user name.
func (a *Admin) Accounts(ctx context.Context) ([]AccountInfo, error) {
	accounts, err := a.db.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AccountInfo, 0, len(accounts))
	for _, acc := range accounts {
		info, err := a.info(ctx, acc)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Account describes the account of user; an unknown user is
// errors.NotExist.
func (a *Admin) Account(ctx context.Context, user string) (AccountInfo, error) {
	acc, err := a.account(ctx, user)
	if err != nil {
		return AccountInfo{}, err
	}
	return a.info(ctx, acc)
}

func (a *Admin) info(ctx context.Context, acc meta.Account) (AccountInfo, error) {
	devs, err := a.db.Devices(ctx, acc.ID)
	if err != nil {
		return AccountInfo{}, err
	}
	live := 0
	for _, d := range devs {
		if d.Revoked.IsZero() {
			live++
		}
	}
	return AccountInfo{ID: acc.ID, User: acc.User, Created: acc.Created, Quota: acc.Quota, Used: acc.Used,
		Disabled: acc.Disabled, TOTP: acc.TOTPSecret != nil, Devices: live}, nil
}

func (a *Admin) account(ctx context.Context, user string) (meta.Account, error) {
	acc, err := a.db.AccountByUser(ctx, user)
	if errors.Is(err, errors.NotExist) {
		return acc, errors.E(errors.Op("server.Admin"), errors.NotExist, user, errors.Str("no such user on this server"))
	}
	return acc, err
}

// CreateAccount makes an account for user from an account envelope and
// the auth key of its passphrase (keys.Stretch), both made by the caller:
// the server never sees a passphrase. The user then logs in from a PC.
// A user name that is taken is errors.Exist.
func (a *Admin) CreateAccount(ctx context.Context, user string, envelope, auth []byte) (AccountInfo, error) {
	const op errors.Op = "server.CreateAccount"
	if err := first(checkUser(user), checkAuth("auth", auth), checkEnvelope(envelope)); err != nil {
		return AccountInfo{}, errors.E(op, errors.Invalid, user, errors.Str(fromErr(err).msg))
	}
	na := meta.NewAccount{
		ID: newID(), User: user, Credentials: credentials(auth, envelope),
		Used: int64(len(envelope)), Created: time.Now(),
	}
	if err := createAccount(ctx, a.data, a.db, na); err != nil {
		return AccountInfo{}, errors.E(op, user, err)
	}
	return a.Account(ctx, user)
}

// SetDisabled disables or enables the account of user. A disabled
// account's devices are refused from their next request, and its user
// cannot log in; its objects stay.
func (a *Admin) SetDisabled(ctx context.Context, user string, disabled bool) error {
	acc, err := a.account(ctx, user)
	if err != nil {
		return err
	}
	return a.db.SetDisabled(ctx, acc.ID, disabled)
}

// SetQuota sets the quota of user's account in bytes; 0 is none. Objects
// already stored stay even if they pass it; new puts are refused.
func (a *Admin) SetQuota(ctx context.Context, user string, quota int64) error {
	acc, err := a.account(ctx, user)
	if err != nil {
		return err
	}
	return a.db.SetQuota(ctx, acc.ID, quota)
}

// ResetTOTP turns TOTP off for user's account, for a user who lost their
// authenticator. Whoever asks for it must be known to be the user.
func (a *Admin) ResetTOTP(ctx context.Context, user string) error {
	acc, err := a.account(ctx, user)
	if err != nil {
		return err
	}
	return a.db.DisableTOTP(ctx, acc.ID, 0)
}

// Recount sets the used bytes of user's account to the sizes of the
// objects on disk, and returns them. Puts and deletes that run meanwhile
// on a live server may leave the count off by their sizes; recount again
// when the account is idle if that matters.
func (a *Admin) Recount(ctx context.Context, user string) (int64, error) {
	acc, err := a.account(ctx, user)
	if err != nil {
		return 0, err
	}
	st, err := dir.Create(accountDir(a.data, acc.ID))
	if err != nil {
		return 0, err
	}
	if err := recount(ctx, a.db, st, acc); err != nil {
		return 0, err
	}
	acc, err = a.db.Account(ctx, acc.ID)
	return acc.Used, err
}
