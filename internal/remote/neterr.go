package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	stderrors "errors"
	"fmt"
	"net"
	"net/url"
	"syscall"

	"github.com/dvpc/dvpc/internal/errors"
)

// ErrCertChanged is the cause of the errors.Permission error a request
// fails with when the server's certificate is not the pinned one: test for
// it with errors.Is.
var ErrCertChanged = errors.Str("the server's TLS certificate changed")

// certChangedError says which certificate was found instead of the pinned
// one, and what to do.
type certChangedError struct {
	server    string
	want, got string
}

func (e *certChangedError) Error() string {
	return fmt.Sprintf("the TLS certificate of the server %s changed: its SHA-256 fingerprint is now %s, not the %s pinned at login. "+
		"If the server's operator replaced its certificate, check the new fingerprint with them and log in again to pin it; "+
		"otherwise someone may be intercepting the connection", e.server, e.got, e.want)
}

func (e *certChangedError) Is(target error) bool { return target == ErrCertChanged }

// netError is a failure to talk to the server at all: no connection, no
// answer, or a connection that broke.
type netError struct {
	text      string // says what happened, naming the server
	err       error
	transient bool // trying again may work
}

func (e *netError) Error() string { return e.text + ": " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// netErr classifies err, which a request to the server failed with.
func (c *Client) netErr(ctx context.Context, op errors.Op, name string, err error) error {
	if ctx.Err() != nil {
		return errors.E(op, name, ctx.Err())
	}
	var cc *certChangedError
	if errors.As(err, &cc) {
		return errors.E(op, errors.Permission, name, cc)
	}
	e := describeNetErr(c.server, err)
	var oe *net.OpError
	if c.failFast && errors.As(err, &oe) && oe.Op == "dial" {
		e.transient = false // the set has other mirrors and an outbox
	}
	var dns *net.DNSError
	if c.failFast && errors.As(err, &dns) {
		e.transient = false
	}
	return errors.E(op, errors.Unavailable, name, e)
}

// describeNetErr explains a failure to reach server, in words a user can
// act on.
func describeNetErr(server string, err error) *netError {
	cause := err
	if ue, ok := err.(*url.Error); ok {
		cause = ue.Err
	}
	e := &netError{text: "cannot reach the server " + server, err: cause, transient: true}
	var (
		dns       *net.DNSError
		ne        net.Error
		unknownCA x509.UnknownAuthorityError
		host      x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &dns):
		e.text = "cannot find the server " + server
		e.transient = dns.IsTemporary || dns.IsTimeout
	case stderrors.Is(err, syscall.ECONNREFUSED):
		e.text = "the server " + server + " refused the connection (is dvpc serve running there?)"
	case errors.As(err, &unknownCA):
		e.text = "the server " + server + " has a TLS certificate this system does not trust; " +
			"if it is self-signed, log in again to check its fingerprint and pin it"
		e.transient = false
	case errors.As(err, &host), errors.As(err, &invalid), errors.As(err, &verify):
		e.text = "the TLS certificate of the server " + server + " is not valid for it"
		e.transient = false
	case errors.As(err, &record):
		e.text = "the server " + server + " does not speak TLS (is its URL http://?)"
		e.transient = false
	case errors.As(err, &ne) && ne.Timeout():
		e.text = "the server " + server + " did not answer in time"
	}
	return e
}

// protocolError is an answer that breaks the protocol.
type protocolError struct{ text string }

func (e *protocolError) Error() string { return e.text }

func badAnswer(format string, args ...any) error {
	return &protocolError{fmt.Sprintf(format, args...)}
}

// bodyErr classifies err, which reading or checking an answer failed with:
// a broken protocol is errors.IO, a broken connection errors.Unavailable.
func (c *Client) bodyErr(ctx context.Context, op errors.Op, name string, err error) error {
	var pe *protocolError
	if errors.As(err, &pe) {
		return errors.E(op, errors.IO, name, fmt.Errorf("bad answer from the server %s: %w", c.server, err))
	}
	return c.netErr(ctx, op, name, err)
}
