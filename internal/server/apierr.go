package server

import (
	"encoding/json"
	stderrors "errors"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// The error codes of docs/PROTOCOL.md.
const (
	codeInvalid         = "invalid"
	codeUnauthenticated = "unauthenticated"
	codeBadCredentials  = "bad_credentials"
	codeOTPRequired     = "otp_required"
	codeBadOTP          = "bad_otp"
	codeDeviceRevoked   = "device_revoked"
	codeAccountDisabled = "account_disabled"
	codeForbidden       = "forbidden"
	codeNotFound        = "not_found"
	codeExists          = "exists"
	codeTooLarge        = "too_large"
	codeBadRange        = "bad_range"
	codeCorrupt         = "corrupt"
	codeRateLimited     = "rate_limited"
	codeUnavailable     = "unavailable"
	codeQuotaExceeded   = "quota_exceeded"
	codeDiskFull        = "disk_full"
	codeInternal        = "internal"
)

// statusOf is the protocol's table of codes to HTTP statuses.
var statusOf = map[string]int{
	codeInvalid:         http.StatusBadRequest,
	codeUnauthenticated: http.StatusUnauthorized,
	codeBadCredentials:  http.StatusUnauthorized,
	codeOTPRequired:     http.StatusUnauthorized,
	codeBadOTP:          http.StatusUnauthorized,
	codeDeviceRevoked:   http.StatusForbidden,
	codeAccountDisabled: http.StatusForbidden,
	codeForbidden:       http.StatusForbidden,
	codeNotFound:        http.StatusNotFound,
	codeExists:          http.StatusConflict,
	codeTooLarge:        http.StatusRequestEntityTooLarge,
	codeBadRange:        http.StatusRequestedRangeNotSatisfiable,
	codeCorrupt:         http.StatusUnprocessableEntity,
	codeRateLimited:     http.StatusTooManyRequests,
	codeUnavailable:     http.StatusServiceUnavailable,
	codeQuotaExceeded:   http.StatusInsufficientStorage,
	codeDiskFull:        http.StatusInsufficientStorage,
	codeInternal:        http.StatusInternalServerError,
}

// apiError is an answer from the protocol's error table. Handlers return
// one for every refusal they decide; fromErr makes one of any other error.
type apiError struct {
	code       string
	msg        string        // for a human; never holds a secret
	retryAfter time.Duration // sent as Retry-After when above 0
	status     int           // 0: statusOf[code]
	cause      error         // for the log, never for the client
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func (e *apiError) Unwrap() error { return e.cause }

func refuse(code, msg string) *apiError { return &apiError{code: code, msg: msg} }

func invalid(msg string) *apiError { return refuse(codeInvalid, msg) }

// fromErr turns err into the protocol's answer: an *apiError in its chain
// as it is, otherwise by its kind. Messages are fixed per kind, so that no
// server path or internal detail reaches a client.
func fromErr(err error) *apiError {
	var ae *apiError
	if stderrors.As(err, &ae) {
		return ae
	}
	if diskFull(err) {
		return &apiError{code: codeDiskFull, msg: "the server's disk is full; nothing was stored", cause: err}
	}
	switch errors.KindOf(err) {
	case errors.Invalid:
		return &apiError{code: codeInvalid, msg: "invalid request", cause: err}
	case errors.NotExist:
		return &apiError{code: codeNotFound, msg: "no such object", cause: err}
	case errors.Exist:
		return &apiError{code: codeExists, msg: "already exists", cause: err}
	case errors.Corrupt:
		return &apiError{code: codeCorrupt, msg: "the bytes do not match the SHA-256 that the object name promises; nothing was stored", cause: err}
	case errors.Unavailable:
		return &apiError{code: codeUnavailable, msg: "the server is busy; retry", retryAfter: time.Second, cause: err}
	}
	return &apiError{code: codeInternal, msg: "internal error; the server log says more", cause: err}
}

// diskFull reports whether err says the server's disk is full: the dir
// store keeps the errno in the chain, and meta reports SQLite's as Full.
func diskFull(err error) bool {
	return errors.Is(err, errors.Full) || stderrors.Is(err, syscall.ENOSPC) || stderrors.Is(err, syscall.EDQUOT)
}

// writeError sends e as the protocol's error body.
func writeError(w http.ResponseWriter, e *apiError) {
	status := e.status
	if status == 0 {
		status = statusOf[e.code]
	}
	if e.retryAfter > 0 {
		secs := int64((e.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	writeJSON(w, status, struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}{e.code, e.msg})
}

// writeJSON sends v as a JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal","message":"cannot encode the answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// opErr adds op to err, keeping nil nil.
func opErr(op errors.Op, err error) error {
	if err == nil {
		return nil
	}
	return errors.E(op, err)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
