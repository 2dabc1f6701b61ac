package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/totp"
)

// totpIssuer names the server in authenticator apps.
const totpIssuer = "DVPC"

type totpResp struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// totpBegin makes a pending TOTP secret for the account; totpConfirm turns
// it on. An account with TOTP on must turn it off first, so that a stolen
// token cannot swap in its own secret.
func (s *Server) totpBegin(w http.ResponseWriter, r *http.Request, ses *session) error {
	if ses.account.TOTPSecret != nil {
		return invalid("TOTP is already on: turn it off first")
	}
	secret := totp.NewSecret()
	if err := s.db.SetTOTPPending(r.Context(), ses.account.ID, secret); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, totpResp{totp.Encode(secret), totp.URI(totpIssuer, ses.account.User, secret)})
	return nil
}

func (s *Server) totpConfirm(w http.ResponseWriter, r *http.Request, ses *session) error {
	var q totpConfirmReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	a := ses.account
	if a.TOTPSecret != nil || a.TOTPPending == nil {
		return invalid("no pending TOTP secret: POST /v1/account/totp first")
	}
	at, err := s.begin(a.User, clientAddr(r))
	if err != nil {
		return err
	}
	if got := sha256.Sum256(q.Auth); subtle.ConstantTimeCompare(got[:], a.AuthHash[:]) != 1 {
		return s.loginFailed(r, at, a.User, refuse(codeBadCredentials, "auth is not the current passphrase's"))
	}
	step, ok := totp.Verify(a.TOTPPending, q.Code, s.cfg.Now(), a.TOTPStep)
	if !ok {
		return s.loginFailed(r, at, a.User, refuse(codeBadOTP, "wrong TOTP code"))
	}
	if err := s.db.EnableTOTP(r.Context(), a.ID, a.TOTPPending, step); err != nil {
		return s.loginFailed(r, at, a.User, otpConflict(err))
	}
	at.succeeded()
	s.log.Info("totp on", append(logAttrs(r, a.User), "device", ses.device.ID)...)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) totpDisable(w http.ResponseWriter, r *http.Request, ses *session) error {
	var q codeReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	a := ses.account
	if a.TOTPSecret == nil {
		return invalid("TOTP is off")
	}
	at, err := s.begin(a.User, clientAddr(r))
	if err != nil {
		return err
	}
	step, ok := totp.Verify(a.TOTPSecret, q.Code, s.cfg.Now(), a.TOTPStep)
	if !ok {
		return s.loginFailed(r, at, a.User, refuse(codeBadOTP, "wrong or already used TOTP code"))
	}
	if err := s.db.DisableTOTP(r.Context(), a.ID, step); err != nil {
		return s.loginFailed(r, at, a.User, otpConflict(err))
	}
	at.succeeded()
	s.log.Info("totp off", append(logAttrs(r, a.User), "device", ses.device.ID)...)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// otpConflict turns a code whose step was used meanwhile into bad_otp.
func otpConflict(err error) error {
	if errors.Is(err, errors.Conflict) {
		return refuse(codeBadOTP, "wrong or already used TOTP code")
	}
	return err
}
