package remote

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// KDF are the Argon2id parameters that stretch an account's passphrase.
type KDF struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// PreloginReply is what a client needs to stretch a user's passphrase. The
// server answers the same shape for a user that does not exist.
type PreloginReply struct {
	KDF  KDF    `json:"kdf"`
	Salt []byte `json:"salt"`
}

// DeviceRef names the device that signs up, logs in or recovers: a new ID
// is a new device.
type DeviceRef struct {
	ID   string `json:"id"` // 32 hex digits
	Name string `json:"name"`
}

// SignupRequest creates an account. Auth is the key derived from the
// passphrase that proves it; Account is the sealed account envelope.
type SignupRequest struct {
	User    string    `json:"user"`
	Auth    []byte    `json:"auth"`
	Account []byte    `json:"account"`
	Device  DeviceRef `json:"device"`
}

// LoginRequest logs a device in. OTP is the TOTP code, if the account
// has TOTP on.
type LoginRequest struct {
	User   string    `json:"user"`
	Auth   []byte    `json:"auth"`
	OTP    string    `json:"otp,omitempty"`
	Device DeviceRef `json:"device"`
}

// RecoverRequest logs a device in with a recovery code, and replaces the
// passphrase: CodeAuth proves the code, Auth and Account are the new
// passphrase's proof and envelope.
type RecoverRequest struct {
	User     string    `json:"user"`
	CodeAuth []byte    `json:"code_auth"`
	Auth     []byte    `json:"auth"`
	Account  []byte    `json:"account"`
	Device   DeviceRef `json:"device"`
}

// Session is what a sign-up, login or recovery returns. The client sends
// Token from then on; the caller keeps it for the next run.
type Session struct {
	AccountID string `json:"account_id"`
	DeviceID  string `json:"device_id"`
	Token     string `json:"token"`
}

// Account describes the logged-in account. Quota 0 means none.
type Account struct {
	User          string    `json:"user"`
	AccountID     string    `json:"account_id"`
	Created       time.Time `json:"created"`
	Quota         int64     `json:"quota"`
	Used          int64     `json:"used"`
	TOTP          bool      `json:"totp"`
	RecoveryCodes int       `json:"recovery_codes"`
}

// PassphraseRequest changes the passphrase. Recovery, if not nil, replaces
// the recovery codes: the SHA-256 of each code's auth key.
type PassphraseRequest struct {
	OldAuth  []byte   `json:"old_auth"`
	Auth     []byte   `json:"auth"`
	Account  []byte   `json:"account"`
	Recovery [][]byte `json:"recovery,omitzero"`
}

// TOTPSecret is a pending TOTP secret, to show to the user (as the URI's
// QR code) until TOTPConfirm turns it on.
type TOTPSecret struct {
	Secret string `json:"secret"` // base32
	URI    string `json:"uri"`    // otpauth://totp/...
}

// Device is a device of the account. Revoked is nil unless it was revoked;
// Current marks the device that asks.
type Device struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	LastSeen time.Time  `json:"last_seen"`
	Revoked  *time.Time `json:"revoked"`
	Current  bool       `json:"current"`
}

// Prelogin returns what the client needs to stretch user's passphrase.
func (c *Client) Prelogin(ctx context.Context, user string) (*PreloginReply, error) {
	var out PreloginReply
	r := &request{method: http.MethodGet, path: "/v1/prelogin", query: url.Values{"user": {user}}}
	if err := c.call(ctx, "remote.Prelogin", r, true, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Signup creates an account, logs this device in, and uses the new token.
func (c *Client) Signup(ctx context.Context, req *SignupRequest) (*Session, error) {
	return c.session(ctx, "remote.Signup", "/v1/signup", req)
}

// Login logs this device in and uses the new token. A wrong passphrase is
// CodeBadCredentials; TOTP codes are CodeOTPRequired and CodeBadOTP; too
// many attempts are CodeRateLimited, with RetryAfter.
func (c *Client) Login(ctx context.Context, req *LoginRequest) (*Session, error) {
	return c.session(ctx, "remote.Login", "/v1/login", req)
}

// RecoveryAccount returns the account envelope of user to someone who
// holds a recovery code but no token, so that they can open it with the
// code and build the new envelope for Recover. codeAuth proves the code,
// which is not used up; a wrong one is CodeBadCredentials and counts
// against the login rate limits.
func (c *Client) RecoveryAccount(ctx context.Context, user string, codeAuth []byte) ([]byte, error) {
	const op errors.Op = "remote.RecoveryAccount"
	in := struct {
		User     string `json:"user"`
		CodeAuth []byte `json:"code_auth"`
	}{user, codeAuth}
	var out struct {
		Account []byte `json:"account"`
	}
	if err := c.call(ctx, op, &request{method: http.MethodPost, path: "/v1/recover/account"}, false, in, &out); err != nil {
		return nil, err
	}
	if len(out.Account) == 0 {
		return nil, errors.E(op, errors.IO, errors.Str("bad answer from the server "+c.server+": no account envelope"))
	}
	return out.Account, nil
}

// Recover logs this device in with a recovery code, which then stops
// working, replaces the passphrase, and uses the new token.
func (c *Client) Recover(ctx context.Context, req *RecoverRequest) (*Session, error) {
	return c.session(ctx, "remote.Recover", "/v1/recover", req)
}

// session posts a request that returns a Session, and adopts its token.
func (c *Client) session(ctx context.Context, op errors.Op, path string, in any) (*Session, error) {
	var out Session
	if err := c.call(ctx, op, &request{method: http.MethodPost, path: path}, false, in, &out); err != nil {
		return nil, err
	}
	if !validToken(out.Token) {
		return nil, errors.E(op, errors.IO, errors.Str("bad answer from the server "+c.server+": no valid token"))
	}
	c.setToken(out.Token)
	return &out, nil
}

// validToken reports whether t can be sent in a header: the protocol's
// tokens are 43 characters of base64url.
func validToken(t string) bool {
	if t == "" || len(t) > 1024 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Logout ends this device's session: its token stops working, and the
// client forgets it.
func (c *Client) Logout(ctx context.Context) error {
	err := c.call(ctx, "remote.Logout", &request{method: http.MethodPost, path: "/v1/logout", auth: true}, false, nil, nil)
	if err == nil {
		c.setToken("")
	}
	return err
}

// Account describes the logged-in account.
func (c *Client) Account(ctx context.Context) (*Account, error) {
	var out Account
	r := &request{method: http.MethodGet, path: "/v1/account", auth: true}
	if err := c.call(ctx, "remote.Account", r, true, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChangePassphrase replaces the passphrase's proof and the account
// envelope together, after checking the old proof.
func (c *Client) ChangePassphrase(ctx context.Context, req *PassphraseRequest) error {
	r := &request{method: http.MethodPost, path: "/v1/account/passphrase", auth: true}
	return c.call(ctx, "remote.ChangePassphrase", r, false, req, nil)
}

// TOTPBegin asks for a new TOTP secret, which stays pending until
// TOTPConfirm.
func (c *Client) TOTPBegin(ctx context.Context) (*TOTPSecret, error) {
	var out TOTPSecret
	r := &request{method: http.MethodPost, path: "/v1/account/totp", auth: true}
	if err := c.call(ctx, "remote.TOTPBegin", r, false, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// TOTPConfirm turns TOTP on with a code from the pending secret and the
// current passphrase's auth key: a token alone cannot turn it on.
func (c *Client) TOTPConfirm(ctx context.Context, code string, auth []byte) error {
	r := &request{method: http.MethodPost, path: "/v1/account/totp/confirm", auth: true}
	return c.call(ctx, "remote.TOTPConfirm", r, false, totpConfirm{code, auth}, nil)
}

// TOTPDisable turns TOTP off, given a current code.
func (c *Client) TOTPDisable(ctx context.Context, code string) error {
	r := &request{method: http.MethodPost, path: "/v1/account/totp/disable", auth: true}
	return c.call(ctx, "remote.TOTPDisable", r, false, totpCode{code}, nil)
}

type totpConfirm struct {
	Code string `json:"code"`
	Auth []byte `json:"auth"`
}

type totpCode struct {
	Code string `json:"code"`
}

// Devices lists the account's devices, revoked ones included.
func (c *Client) Devices(ctx context.Context) ([]Device, error) {
	var out struct {
		Devices []Device `json:"devices"`
	}
	r := &request{method: http.MethodGet, path: "/v1/devices", auth: true}
	if err := c.call(ctx, "remote.Devices", r, true, nil, &out); err != nil {
		return nil, err
	}
	return out.Devices, nil
}

// Revoke revokes the device id: its token fails at once.
func (c *Client) Revoke(ctx context.Context, id string) error {
	const op errors.Op = "remote.Revoke"
	if !isHexID(id) {
		return errors.E(op, errors.Invalid, id, errors.Str("a device id is 32 hex digits"))
	}
	r := &request{method: http.MethodPost, path: "/v1/devices/" + id + "/revoke", auth: true}
	return c.call(ctx, op, r, false, nil, nil)
}

// isHexID reports whether id is 32 hex digits, as account and device ids
// are.
func isHexID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
