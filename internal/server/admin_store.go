package server

import (
	"context"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
)

// Store opens the objects of user's account directly, for an operator
// who sets up an account (its first volume) before the user logs in. It
// bypasses the quota; run Recount after writing.
func (a *Admin) Store(ctx context.Context, user string) (blob.Store, error) {
	acc, err := a.account(ctx, user)
	if err != nil {
		return nil, err
	}
	st, err := dir.Open(accountDir(a.data, acc.ID))
	if err != nil {
		return nil, errors.E(errors.Op("server.Admin.Store"), user, err)
	}
	return st, nil
}
