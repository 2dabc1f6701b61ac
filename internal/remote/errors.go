package remote

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/dvpc/dvpc/internal/errors"
)

// The error codes of the protocol. Code tells which one an error carries,
// so that a caller can say what to do about each: a wrong passphrase, a
// missing or wrong TOTP code, a revoked device, a disabled account, a rate
// limit (see RetryAfter).
const (
	CodeInvalid         = "invalid"
	CodeUnauthenticated = "unauthenticated"
	CodeBadCredentials  = "bad_credentials"
	CodeOTPRequired     = "otp_required"
	CodeBadOTP          = "bad_otp"
	CodeDeviceRevoked   = "device_revoked"
	CodeAccountDisabled = "account_disabled"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeExists          = "exists"
	CodeTooLarge        = "too_large"
	CodeBadRange        = "bad_range"
	CodeCorrupt         = "corrupt"
	CodeRateLimited     = "rate_limited"
	CodeUnavailable     = "unavailable"
	CodeQuotaExceeded   = "quota_exceeded"
	CodeDiskFull        = "disk_full"
	CodeInternal        = "internal"
)

// codeKinds is the protocol's table of error codes and the kinds of error
// they become.
var codeKinds = map[string]errors.Kind{
	CodeInvalid:         errors.Invalid,
	CodeUnauthenticated: errors.Permission,
	CodeBadCredentials:  errors.Permission,
	CodeOTPRequired:     errors.Permission,
	CodeBadOTP:          errors.Permission,
	CodeDeviceRevoked:   errors.Permission,
	CodeAccountDisabled: errors.Permission,
	CodeForbidden:       errors.Permission,
	CodeNotFound:        errors.NotExist,
	CodeExists:          errors.Exist,
	CodeTooLarge:        errors.Invalid,
	CodeBadRange:        errors.Invalid,
	CodeCorrupt:         errors.Corrupt,
	CodeRateLimited:     errors.Unavailable,
	CodeUnavailable:     errors.Unavailable,
	CodeQuotaExceeded:   errors.Full,
	CodeDiskFull:        errors.Full,
	CodeInternal:        errors.IO,
}

// codeOfStatus returns the code a status implies when the answer names
// none (an answer to HEAD has no body), if only one code has that status.
func codeOfStatus(status int) string {
	switch status {
	case 400:
		return CodeInvalid
	case 404:
		return CodeNotFound
	case 409:
		return CodeExists
	case 413:
		return CodeTooLarge
	case 416:
		return CodeBadRange
	case 422:
		return CodeCorrupt
	case 429:
		return CodeRateLimited
	case 500:
		return CodeInternal
	case 503:
		return CodeUnavailable
	}
	return ""
}

// kindOfStatus classifies a status that comes with no known code, such as
// a proxy's.
func kindOfStatus(status int) errors.Kind {
	switch {
	case status == 401 || status == 403:
		return errors.Permission
	case status == 404:
		return errors.NotExist
	case status == 409:
		return errors.Exist
	case status == 422:
		return errors.Corrupt
	case status == 429 || status == 502 || status == 503 || status == 504:
		return errors.Unavailable
	case status == 507:
		return errors.Full
	case status >= 500:
		return errors.IO
	}
	return errors.Invalid
}

// Code returns the protocol's error code that err carries, such as
// CodeBadCredentials, or "" if it carries none: a network failure, a check
// made before sending, an answer with no code.
func Code(err error) string {
	var se *serverError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// RetryAfter returns how long the server asked the client to wait before
// trying again (the Retry-After of a 429 or 503 answer), or 0.
func RetryAfter(err error) time.Duration {
	var se *serverError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// serverError is an error answer of the server.
type serverError struct {
	Status     int
	Code       string // "" if the answer named none
	Message    string // the server's words for a human, made printable
	RetryAfter time.Duration
	size       int64 // of a 416 answer: the object's size from Content-Range, or -1
}

func (e *serverError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
		if e.Code != "" {
			msg += " (" + e.Code + ")"
		}
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf("; try again in %v", e.RetryAfter)
	}
	return msg
}

// kind returns the kind of error e becomes: its code's, or else its
// status's.
func (e *serverError) kind() errors.Kind {
	if k, ok := codeKinds[e.Code]; ok {
		return k
	}
	return kindOfStatus(e.Status)
}

// parseError reads an error answer: its status, headers and body, which
// should be {"error": code, "message": text}.
func parseError(status int, h http.Header, body []byte) *serverError {
	e := &serverError{Status: status, size: -1}
	var b struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &b) == nil && b.Error != "" {
		e.Code, e.Message = printable(b.Error, 64), printable(b.Message, 1000)
	} else {
		e.Code = codeOfStatus(status)
	}
	if status >= 300 && status <= 399 {
		e.Message = fmt.Sprintf("the server redirects to %s: use that URL", printable(h.Get("Location"), 200))
	}
	if v := h.Get("Retry-After"); v != "" && (status == 429 || status == 503) {
		e.RetryAfter, _ = parseRetryAfter(v, time.Now())
	}
	if status == http.StatusRequestedRangeNotSatisfiable {
		if cr, ok := parseContentRange(h.Get("Content-Range")); ok {
			e.size = cr.size
		}
	}
	return e
}

// printable returns s without the characters that could fool a terminal,
// cut to at most max bytes.
func printable(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) && r != ' ' {
			return -1
		}
		return r
	}, s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}
