package server

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	stderrors "errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/server/meta"
)

// Bounds of what a client may send in a JSON body.
const (
	maxJSON          = 64 << 10 // bytes in a body
	maxUserLen       = 64
	maxDeviceNameLen = 128
	maxEnvelope      = 4 << 10
	maxCodeLen       = 16 // a TOTP code
	authSize         = 32 // an auth key, a recovery code's auth key or its hash
	tokenSize        = 32
)

// The bodies of the account routes (docs/PROTOCOL.md). []byte fields are
// standard base64 in JSON. Unknown fields are ignored.
type (
	deviceReq struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	signupReq struct {
		User     string    `json:"user"`
		Auth     []byte    `json:"auth"`
		Account  []byte    `json:"account"`
		Device   deviceReq `json:"device"`
		Recovery [][]byte  `json:"recovery"`
	}
	loginReq struct {
		User   string    `json:"user"`
		Auth   []byte    `json:"auth"`
		OTP    string    `json:"otp"`
		Device deviceReq `json:"device"`
	}
	recoverReq struct {
		User     string    `json:"user"`
		CodeAuth []byte    `json:"code_auth"`
		Auth     []byte    `json:"auth"`
		Account  []byte    `json:"account"`
		Device   deviceReq `json:"device"`
	}
	recoverEnvelopeReq struct {
		User     string `json:"user"`
		CodeAuth []byte `json:"code_auth"`
	}
	passphraseReq struct {
		OldAuth  []byte   `json:"old_auth"`
		Auth     []byte   `json:"auth"`
		Account  []byte   `json:"account"`
		Recovery [][]byte `json:"recovery"`
	}
	codeReq struct {
		Code string `json:"code"`
	}
	// totpConfirmReq turns TOTP on: the code proves the app holds the
	// secret, the auth key that the passphrase is known, so that a stolen
	// token alone cannot lock the owner out with a secret of its own.
	totpConfirmReq struct {
		Code string `json:"code"`
		Auth []byte `json:"auth"`
	}
)

// jsonReadTimeout bounds how long a JSON body may take to arrive.
var jsonReadTimeout = 10 * time.Second // a variable for tests

// readJSON reads the request's body, at most maxJSON bytes of one JSON
// value, into v, and checks it.
func readJSON(w http.ResponseWriter, r *http.Request, v interface{ check() error }) error {
	if r.ContentLength > maxJSON {
		return refuse(codeTooLarge, "the body is over 64 KiB")
	}
	// A body of at most 64 KiB comes in seconds: a client that holds the
	// connection open without sending it is cut off.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(jsonReadTimeout))
	if err := parseJSON(http.MaxBytesReader(w, r.Body, maxJSON), v); err != nil {
		return err
	}
	return v.check()
}

// parseJSON decodes exactly one JSON value from rd into v.
func parseJSON(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if stderrors.As(err, &mbe) {
			return refuse(codeTooLarge, "the body is over 64 KiB")
		}
		return invalid("the body is not the JSON object this route takes")
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if stderrors.As(err, &mbe) {
			return refuse(codeTooLarge, "the body is over 64 KiB")
		}
		return invalid("data after the JSON object")
	}
	return nil
}

func (q *signupReq) check() error {
	return first(checkUser(q.User), checkAuth("auth", q.Auth), checkEnvelope(q.Account),
		q.Device.check(), checkRecovery(q.Recovery))
}

func (q *loginReq) check() error {
	if len(q.OTP) > maxCodeLen {
		return invalid("otp is too long")
	}
	return first(checkUser(q.User), checkAuth("auth", q.Auth), q.Device.check())
}

func (q *recoverReq) check() error {
	return first(checkUser(q.User), checkAuth("code_auth", q.CodeAuth), checkAuth("auth", q.Auth),
		checkEnvelope(q.Account), q.Device.check())
}

func (q *recoverEnvelopeReq) check() error {
	return first(checkUser(q.User), checkAuth("code_auth", q.CodeAuth))
}

func (q *passphraseReq) check() error {
	return first(checkAuth("old_auth", q.OldAuth), checkAuth("auth", q.Auth), checkEnvelope(q.Account),
		checkRecovery(q.Recovery))
}

func (q *totpConfirmReq) check() error {
	if err := (&codeReq{q.Code}).check(); err != nil {
		return err
	}
	return checkAuth("auth", q.Auth)
}

func (q *codeReq) check() error {
	if q.Code == "" || len(q.Code) > maxCodeLen {
		return invalid("code must be a TOTP code")
	}
	return nil
}

func (d *deviceReq) check() error {
	if !isHexID(d.ID) {
		return invalid("device.id must be 32 lower-case hex digits")
	}
	if d.Name == "" || len(d.Name) > maxDeviceNameLen || !utf8.ValidString(d.Name) ||
		strings.IndexFunc(d.Name, unicode.IsControl) >= 0 {
		return invalid("device.name must be 1 to 128 bytes of UTF-8 text without control characters")
	}
	return nil
}

// first returns the first non-nil error.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkUser checks a user name: 1 to 64 characters of [a-z0-9._-],
// starting with a letter or digit.
func checkUser(u string) error {
	if u == "" || len(u) > maxUserLen {
		return invalid("user names are 1 to 64 characters")
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return invalid("user names hold only a-z, 0-9, '.', '_' and '-', and start with a letter or digit")
		}
	}
	return nil
}

func checkAuth(field string, b []byte) error {
	if len(b) != authSize {
		return invalid(field + " must be 32 bytes")
	}
	return nil
}

// checkEnvelope checks that b is an account envelope keys.ParseAccount
// takes: the server cannot open it, only refuse what no client made.
func checkEnvelope(b []byte) error {
	if len(b) == 0 || len(b) > maxEnvelope {
		return invalid("account must be an account envelope")
	}
	if _, err := keys.ParseAccount(b); err != nil {
		return invalid("account is not a valid account envelope")
	}
	return nil
}

func checkRecovery(codes [][]byte) error {
	if len(codes) > meta.MaxRecoveryCodes {
		return invalid("too many recovery codes")
	}
	for _, c := range codes {
		if len(c) != authSize {
			return invalid("each recovery code hash must be 32 bytes")
		}
	}
	return nil
}

// recoveryHashes returns what the server keeps of the recovery code
// hashes a client sent: the SHA-256 of each. nil stays nil (keep the set).
func recoveryHashes(codes [][]byte) [][32]byte {
	if codes == nil {
		return nil
	}
	out := make([][32]byte, 0, len(codes))
	for _, c := range codes {
		out = append(out, sha256.Sum256(c))
	}
	return out
}

// codeHash is what the server keeps of the recovery code whose auth key a
// client proves: SHA-256 of the SHA-256 the client sent when it set it.
func codeHash(codeAuth []byte) [32]byte {
	h := sha256.Sum256(codeAuth)
	return sha256.Sum256(h[:])
}

// isHexID reports whether s is 32 lower-case hex digits.
func isHexID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseBearer returns the SHA-256 of the token in an Authorization
// header: "Bearer " and 43 characters of base64url without padding.
func parseBearer(h string) ([32]byte, bool) {
	const scheme = "bearer "
	if len(h) != len(scheme)+43 || !strings.EqualFold(h[:len(scheme)], scheme) {
		return [32]byte{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(h[len(scheme):])
	if err != nil || len(raw) != tokenSize {
		return [32]byte{}, false
	}
	return sha256.Sum256(raw), true
}
