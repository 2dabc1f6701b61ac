package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	stderrors "errors"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/server/meta"
	"github.com/dvpc/dvpc/internal/totp"
)

// The answers of the account routes.
type (
	kdfJSON struct {
		Time      uint32 `json:"time"`
		MemoryKiB uint32 `json:"memory_kib"`
		Threads   uint8  `json:"threads"`
	}
	preloginResp struct {
		KDF  kdfJSON `json:"kdf"`
		Salt []byte  `json:"salt"`
	}
	loginResp struct {
		AccountID string `json:"account_id"`
		DeviceID  string `json:"device_id"`
		Token     string `json:"token"`
	}
	accountResp struct {
		User          string `json:"user"`
		AccountID     string `json:"account_id"`
		Created       string `json:"created"`
		Quota         int64  `json:"quota"`
		Used          int64  `json:"used"`
		TOTP          bool   `json:"totp"`
		RecoveryCodes int    `json:"recovery_codes"`
	}
)

// envelopeName is the object that holds the account envelope.
const envelopeName = "account"

// prelogin answers what a client needs to stretch the passphrase. For a
// user that does not exist the answer has the same shape, the default
// parameters and a salt derived from the server secret, the same on every
// call, so it does not tell whether the user exists.
func (s *Server) prelogin(w http.ResponseWriter, r *http.Request, _ *session) error {
	user := r.URL.Query().Get("user")
	if err := checkUser(user); err != nil {
		return err
	}
	a, err := s.db.AccountByUser(r.Context(), user)
	switch {
	case errors.Is(err, errors.NotExist):
		p := keys.DefaultParams()
		a.KDF = meta.KDF{Time: p.Time, MemoryKiB: p.MemoryKiB, Threads: p.Threads}
		a.Salt = fakeSalt(s.db.Secret(), user)
	case err != nil:
		return err
	}
	writeJSON(w, http.StatusOK, preloginResp{
		KDF:  kdfJSON{a.KDF.Time, a.KDF.MemoryKiB, a.KDF.Threads},
		Salt: a.Salt[:],
	})
	return nil
}

// fakeSalt is the salt prelogin gives for a user that does not exist.
func fakeSalt(secret []byte, user string) [16]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dvpc prelogin salt\x00" + user))
	var salt [16]byte
	copy(salt[:], m.Sum(nil))
	return salt
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request, _ *session) error {
	if !s.cfg.Signup {
		return refuse(codeForbidden, "sign-up is closed on this server: ask its operator for an account")
	}
	var q signupReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	if wait, ok := s.signups.take(clientAddr(r), s.cfg.Now()); !ok {
		return &apiError{code: codeRateLimited, msg: "too many sign-ups; retry later", retryAfter: max(wait, time.Second)}
	}
	token, nd := s.newDevice(q.Device)
	na := meta.NewAccount{
		ID:          newID(),
		User:        q.User,
		Credentials: credentials(q.Auth, q.Account),
		Used:        int64(len(q.Account)),
		Recovery:    recoveryHashes(q.Recovery),
		Device:      &nd,
		Created:     s.cfg.Now(),
	}
	if err := createAccount(context.WithoutCancel(r.Context()), s.cfg.Data, s.db, na); err != nil {
		if errors.Is(err, errors.Exist) {
			return refuse(codeExists, "this user name is taken")
		}
		return err
	}
	s.log.Info("signup", append(logAttrs(r, q.User), "account", na.ID, "device", nd.ID)...)
	writeJSON(w, http.StatusOK, loginResp{na.ID, nd.ID, token})
	return nil
}

// createAccount stores a new account: its envelope as the object
// "account" in a new folder, then its rows. A crash between the two leaves
// a folder that no account names, which is never served; a refused insert
// (the user name is taken) removes the folder, which is new and random.
func createAccount(ctx context.Context, data string, db *meta.DB, na meta.NewAccount) error {
	st, err := dir.Create(accountDir(data, na.ID))
	if err != nil {
		return err
	}
	if err := st.Put(ctx, envelopeName, na.Envelope); err != nil {
		os.RemoveAll(st.Root())
		return err
	}
	if err := db.CreateAccount(ctx, na); err != nil {
		os.RemoveAll(st.Root())
		return err
	}
	return nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *session) error {
	var q loginReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	at, err := s.begin(q.User, clientAddr(r))
	if err != nil {
		return err
	}
	a, err := s.checkAuth(r.Context(), q.User, q.Auth)
	if err != nil {
		return s.loginFailed(r, at, q.User, err)
	}
	if a.TOTPSecret != nil {
		if err := s.checkOTP(r.Context(), a, q.OTP); err != nil {
			return s.loginFailed(r, at, q.User, err)
		}
	}
	token, nd := s.newDevice(q.Device)
	if err := s.db.Login(r.Context(), a.ID, nd); err != nil {
		return s.loginFailed(r, at, q.User, deviceErr(err))
	}
	at.succeeded()
	s.log.Info("login", append(logAttrs(r, q.User), "device", nd.ID)...)
	writeJSON(w, http.StatusOK, loginResp{a.ID, nd.ID, token})
	return nil
}

// loginFailed logs a refused login with its reason and returns err. An
// attempt refused for a reason other than a wrong secret is not counted.
func (s *Server) loginFailed(r *http.Request, at *attempt, user string, err error) error {
	e := fromErr(err)
	if e.code != codeBadCredentials && e.code != codeBadOTP {
		at.succeeded()
	}
	s.log.Warn("login failed", append(logAttrs(r, user), "reason", e.code, "route", r.URL.Path)...)
	return err
}

// dummyHash stands for the auth hash of a user that does not exist, so
// that checking a wrong user costs what checking a wrong passphrase does.
var dummyHash = sha256.Sum256([]byte("dvpc: no such user"))

// checkAuth returns the account of user if auth is its auth key, or the
// refusal: bad_credentials (never saying whether the user exists), or
// account_disabled once the credentials are right.
func (s *Server) checkAuth(ctx context.Context, user string, auth []byte) (meta.Account, error) {
	a, err := s.db.AccountByUser(ctx, user)
	exists := err == nil
	if err != nil && !errors.Is(err, errors.NotExist) {
		return a, err
	}
	want := dummyHash
	if exists {
		want = a.AuthHash
	}
	got := sha256.Sum256(auth)
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !exists {
		return a, refuse(codeBadCredentials, "wrong user name or passphrase")
	}
	if a.Disabled {
		return a, refuse(codeAccountDisabled, "this account is disabled")
	}
	return a, nil
}

// checkOTP checks a TOTP code of an account that has TOTP on, and records
// its time step so that it cannot be used again.
func (s *Server) checkOTP(ctx context.Context, a meta.Account, code string) error {
	if code == "" {
		return refuse(codeOTPRequired, "this account needs a TOTP code")
	}
	step, ok := totp.Verify(a.TOTPSecret, code, s.cfg.Now(), a.TOTPStep)
	if !ok {
		return refuse(codeBadOTP, "wrong or already used TOTP code")
	}
	if err := s.db.UseTOTPStep(ctx, a.ID, step); err != nil {
		if errors.Is(err, errors.Conflict) {
			return refuse(codeBadOTP, "wrong or already used TOTP code")
		}
		return err
	}
	return nil
}

// deviceErr turns meta's refusal of a revoked device id into the
// protocol's.
func deviceErr(err error) error {
	if stderrors.Is(err, meta.ErrRevoked) {
		return refuse(codeDeviceRevoked, "this device id was revoked: log in as a new device")
	}
	return err
}

func (s *Server) recover(w http.ResponseWriter, r *http.Request, _ *session) error {
	var q recoverReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	at, err := s.begin(q.User, clientAddr(r))
	if err != nil {
		return err
	}
	a, err := s.checkRecoveryCode(r.Context(), q.User, q.CodeAuth)
	if err != nil {
		return s.loginFailed(r, at, q.User, err)
	}
	token, nd := s.newDevice(q.Device)
	c := credentials(q.Auth, q.Account)
	err = s.replaceCredentials(r.Context(), a.ID, c, nil, func(ctx context.Context) error {
		return s.db.Recover(ctx, a.ID, codeHash(q.CodeAuth), c, nd)
	})
	if errors.Is(err, errors.Permission) && !stderrors.Is(err, meta.ErrRevoked) {
		err = refuse(codeBadCredentials, "wrong user name or recovery code") // used meanwhile
	}
	if err != nil {
		return s.loginFailed(r, at, q.User, deviceErr(err))
	}
	at.succeeded()
	s.log.Info("recovered: passphrase replaced with a recovery code", append(logAttrs(r, q.User), "device", nd.ID)...)
	writeJSON(w, http.StatusOK, loginResp{a.ID, nd.ID, token})
	return nil
}

// recoverEnvelope gives the envelope to a user who proves a recovery code
// but has no token, so that the client can open it with the code and make
// the new envelope for recover. The code is not used up.
func (s *Server) recoverEnvelope(w http.ResponseWriter, r *http.Request, _ *session) error {
	var q recoverEnvelopeReq
	if err := readJSON(w, r, &q); err != nil {
		return err
	}
	at, err := s.begin(q.User, clientAddr(r))
	if err != nil {
		return err
	}
	a, err := s.checkRecoveryCode(r.Context(), q.User, q.CodeAuth)
	if err != nil {
		return s.loginFailed(r, at, q.User, err)
	}
	at.succeeded()
	writeJSON(w, http.StatusOK, struct {
		Account []byte `json:"account"`
	}{a.Envelope})
	return nil
}

// checkRecoveryCode returns the account of user if it holds the recovery
// code whose auth key is given, or bad_credentials.
func (s *Server) checkRecoveryCode(ctx context.Context, user string, codeAuth []byte) (meta.Account, error) {
	a, err := s.db.AccountByUser(ctx, user)
	if err != nil && !errors.Is(err, errors.NotExist) {
		return a, err
	}
	has, err := s.db.HasRecoveryCode(ctx, a.ID, codeHash(codeAuth))
	switch {
	case err != nil:
		return a, err
	case !has:
		return a, refuse(codeBadCredentials, "wrong user name or recovery code")
	case a.Disabled:
		return a, refuse(codeAccountDisabled, "this account is disabled")
	}
	return a, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ses *session) error {
	if err := s.db.Logout(r.Context(), ses.tokenHash); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) accountInfo(w http.ResponseWriter, r *http.Request, ses *session) error {
	a := ses.account
	n, err := s.db.RecoveryCodes(r.Context(), a.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, accountResp{
		User: a.User, AccountID: a.ID, Created: timeJSON(a.Created),
		Quota: a.Quota, Used: a.Used + s.usage.pendingOf(a.ID), TOTP: a.TOTPSecret != nil, RecoveryCodes: n,
	})
	return nil
}

// credentials are what the server keeps of an auth key and an envelope
// the client sent, which checkEnvelope has checked.
func credentials(auth, envelope []byte) meta.Credentials {
	env, err := keys.ParseAccount(envelope)
	if err != nil {
		panic("server: credentials of an envelope that was not checked")
	}
	return meta.Credentials{
		AuthHash: sha256.Sum256(auth),
		KDF:      meta.KDF{Time: env.Params.Time, MemoryKiB: env.Params.MemoryKiB, Threads: env.Params.Threads},
		Salt:     env.Salt,
		Envelope: envelope,
	}
}

// newDevice makes a token for the device a client named, and returns it
// with what the server keeps of it.
func (s *Server) newDevice(d deviceReq) (string, meta.NewDevice) {
	var raw [tokenSize]byte
	rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:]),
		meta.NewDevice{ID: d.ID, Name: d.Name, TokenHash: sha256.Sum256(raw[:]), Now: s.cfg.Now()}
}

// newID returns a random account id: 16 bytes in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// accountDir is the folder of an account's objects.
func accountDir(data, id string) string { return filepath.Join(data, "accounts", id) }

// timeJSON formats a time as the protocol does: RFC 3339, nanoseconds, UTC.
func timeJSON(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
