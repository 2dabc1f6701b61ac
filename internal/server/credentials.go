package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/server/meta"
)

func (s *Server) passphrase(w http.ResponseWriter, r *http.Request, ses *session) error {
	var q passphraseReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	user := ses.account.User
	at, err := s.begin(user, clientAddr(r))
	if err != nil {
		return err
	}
	c := credentials(q.Auth, q.Account)
	checkOld := func(a meta.Account) error {
		got := sha256.Sum256(q.OldAuth)
		if subtle.ConstantTimeCompare(got[:], a.AuthHash[:]) != 1 {
			return refuse(codeBadCredentials, "old_auth is not the current passphrase's")
		}
		return nil
	}
	err = s.replaceCredentials(r.Context(), ses.account.ID, c, checkOld, func(ctx context.Context) error {
		return s.db.SetCredentials(ctx, ses.account.ID, c, recoveryHashes(q.Recovery))
	})
	if err != nil {
		return s.loginFailed(r, at, user, err)
	}
	at.succeeded()
	s.log.Info("passphrase changed", append(logAttrs(r, user), "device", ses.device.ID, "recovery_codes_replaced", q.Recovery != nil)...)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// replaceCredentials replaces an account's envelope and, through commit,
// its credentials in the database, so that they stay a pair: the
// passphrase that proves the user is the one that opens the envelope.
//
// The order, and what a crash at each point leaves:
//
//  1. The new envelope is written as the object "account" (atomically).
//     A crash here leaves the new envelope beside the old credentials,
//     and a client with either passphrase stuck. The database's copy of
//     the envelope (accounts.envelope) is the one that counts: at the
//     next start recoverData writes it back over the object, so the
//     change did not happen, and the client, which got no answer,
//     retries it.
//  2. commit writes the new credentials and envelope to the database in
//     one transaction. If it fails without a crash (a recovery code used
//     meanwhile, a full disk), the old envelope is put back at once.
//     After it, both are new.
//
// It holds the account's lock on "account" throughout, so two changes
// cannot interleave their halves, and runs check on the account as it is
// under that lock. A client that goes away does not stop it half-way.
func (s *Server) replaceCredentials(ctx context.Context, accountID string, c meta.Credentials,
	check func(meta.Account) error, commit func(context.Context) error) error {
	ctx = context.WithoutCancel(ctx)
	defer s.usage.lock(accountID, envelopeName)()
	old, err := s.db.Account(ctx, accountID)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(old); err != nil {
			return err
		}
	}
	st, err := s.store(accountID)
	if err != nil {
		return err
	}
	if err := st.Put(ctx, envelopeName, c.Envelope); err != nil {
		return err
	}
	if err := commit(ctx); err != nil {
		if rerr := st.Put(ctx, envelopeName, old.Envelope); rerr != nil {
			s.log.Error("cannot put the old account envelope back; the next start will", "account", accountID, "err", rerr)
		}
		return err
	}
	if d := int64(len(c.Envelope) - len(old.Envelope)); d != 0 {
		s.addUsed(ctx, accountID, d)
	}
	return nil
}

// cleanMarker is the file a server leaves in DATA when it stops cleanly,
// and removes when it starts.
const cleanMarker = "clean-shutdown"

// recoverData repairs, at start, what a crash may have left in each
// account's folder: temporary files of puts that never finished, and an
// envelope that differs from the database's copy (see
// replaceCredentials). Nothing else is ever removed. After a crash (no
// clean-shutdown marker) it also recounts each account's used bytes from
// its files, since a put or delete killed between its file and its count
// leaves the count off.
func (s *Server) recoverData(ctx context.Context) error {
	marker := filepath.Join(s.cfg.Data, cleanMarker)
	_, err := os.Stat(marker)
	crashed := err != nil
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		return errors.E(errors.IO, marker, err)
	}
	if err := syncDir(s.cfg.Data); err != nil {
		return errors.E(errors.IO, s.cfg.Data, err)
	}
	accounts, err := s.db.Accounts(ctx)
	if err != nil {
		return err
	}
	if crashed && len(accounts) > 0 {
		s.log.Warn("the last stop was not clean: recounting used bytes", "accounts", len(accounts))
	}
	for _, a := range accounts {
		st, err := dir.Create(accountDir(s.cfg.Data, a.ID))
		if err != nil {
			return err
		}
		// The lock on the data folder means no put of this server is
		// running; a minute spares an operator's command writing now.
		if n, err := st.Sweep(time.Minute); err != nil {
			s.log.Warn("cannot sweep temporary files", "account", a.ID, "err", err)
		} else if n > 0 {
			s.log.Info("removed temporary files of interrupted puts", "account", a.ID, "files", n)
		}
		if err := s.repairEnvelope(ctx, st, a); err != nil {
			return err
		}
		if crashed {
			if err := recount(ctx, s.db, st, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// recount sets an account's used bytes to the sizes of its objects.
func recount(ctx context.Context, db *meta.DB, st *dir.Store, a meta.Account) error {
	var used int64
	err := st.List(ctx, "", func(info blob.Info) error {
		used += info.Size
		return nil
	})
	if err != nil {
		return err
	}
	return db.SetUsed(ctx, a.ID, used)
}

// markClean leaves the clean-shutdown marker.
func (s *Server) markClean() {
	if err := writeFileAtomic(filepath.Join(s.cfg.Data, cleanMarker), nil, 0o600); err != nil {
		s.log.Warn("cannot mark the shutdown clean; the next start recounts usage", "err", err)
	}
}

// repairEnvelope writes the database's copy of an account's envelope over
// the object "account" if they differ.
func (s *Server) repairEnvelope(ctx context.Context, st *dir.Store, a meta.Account) error {
	info, err := st.Stat(ctx, envelopeName)
	if err == nil && info.Size == int64(len(a.Envelope)) {
		b, err := st.Get(ctx, envelopeName, 0, -1)
		if err == nil && bytes.Equal(b, a.Envelope) {
			return nil
		}
	} else if err != nil && !errors.Is(err, errors.NotExist) {
		return err
	}
	s.log.Warn("restored the account envelope from the database", "account", a.ID, "user", a.User)
	return st.Put(ctx, envelopeName, a.Envelope)
}
