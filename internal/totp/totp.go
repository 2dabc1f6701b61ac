// Package totp makes and checks time-based one-time passwords (RFC 6238):
// the second factor a server asks for at login, from an authenticator app
// the user enrolled by scanning a QR code. It uses HMAC-SHA-1, 6 digits and
// 30-second steps, the parameters every authenticator app supports.
//
// It owns the secret's text form, the codes, their check (one step of
// clock drift either way, no step used twice), the otpauth:// URI and its
// QR code for a terminal. It never stores a secret or remembers a used
// step: the caller keeps both, and must store the step Verify returns
// before it accepts the login.
package totp

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// Digits is the length of a code.
	Digits = 6
	// Period is the length of a step, in seconds.
	Period = 30
	// SecretSize is the size of a secret made by NewSecret: 160 bits, as
	// RFC 4226 recommends.
	SecretSize = 20

	minSecret  = 16 // RFC 4226: at least 128 bits
	maxSecret  = 64 // HMAC-SHA-1's block: longer keys gain nothing
	maxEncoded = 256
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a new random secret.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		panic("totp: no randomness: " + err.Error())
	}
	return b
}

// Encode returns the secret in base32 without padding, as authenticator
// apps take it.
func Encode(secret []byte) string { return b32.EncodeToString(secret) }

// Decode reads a secret written by Encode, as a person may type it: in any
// case, with spaces or dashes, with or without padding. It refuses secrets
// shorter than 128 bits or longer than 512.
func Decode(s string) ([]byte, error) {
	if len(s) > maxEncoded {
		return nil, errors.New("totp: secret too long")
	}
	s = strings.TrimRight(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s), "=")
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, errors.New("totp: the secret is not base32 (letters A to Z and digits 2 to 7)")
	}
	if len(b) < minSecret || len(b) > maxSecret {
		return nil, fmt.Errorf("totp: a secret of %d bytes: it must have %d to %d", len(b), minSecret, maxSecret)
	}
	return b, nil
}

// Step returns the number of the 30-second step that holds t.
func Step(t time.Time) int64 {
	u := t.Unix()
	if u < 0 {
		return (u - Period + 1) / Period
	}
	return u / Period
}

// Code returns the code of the secret at time t.
func Code(secret []byte, t time.Time) string { return hotp(secret, Step(t), Digits) }

// hotp is RFC 4226's HOTP of the counter, with the given number of digits
// (RFC 6238's vectors have 8).
func hotp(secret []byte, counter int64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

// Verify checks a code typed at time now (spaces are ignored) against the
// steps before, at and after now, and refuses a step at or before lastStep,
// the step of the last code this secret accepted (0 if none), so that a
// code works once. It returns the step the code matched: the caller must
// store it as the new lastStep before it accepts the login.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	code = strings.ReplaceAll(code, " ", "")
	if len(secret) == 0 || len(code) != Digits || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	s := Step(now)
	for _, st := range []int64{s - 1, s, s + 1} {
		match := subtle.ConstantTimeCompare([]byte(hotp(secret, st, Digits)), []byte(code)) == 1
		if match && st > lastStep && !ok {
			step, ok = st, true
		}
	}
	return step, ok
}
