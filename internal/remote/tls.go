package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// parseFingerprint reads a certificate fingerprint: 64 hex digits, in
// either case, with or without colons. An empty one pins nothing.
func parseFingerprint(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	clean := strings.ToLower(strings.ReplaceAll(s, ":", ""))
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != sha256.Size {
		return nil, errors.E(errors.Invalid, errors.Str("bad certificate fingerprint: want the 64 hex digits of a SHA-256"))
	}
	return b, nil
}

// fingerprintOf returns the fingerprint of a certificate: the SHA-256 of
// its DER bytes, in lower-case hex.
func fingerprintOf(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// tlsConfig returns the TLS settings of a client: with a pin, the server's
// leaf certificate must have that fingerprint and nothing else is checked
// (a pinned self-signed certificate is the point); without one, the
// system's roots verify it.
func tlsConfig(pin []byte, server string) *tls.Config {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if pin == nil {
		return conf
	}
	conf.InsecureSkipVerify = true // replaced by VerifyConnection's check of the pin
	conf.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return &certChangedError{server: server, want: hex.EncodeToString(pin), got: "(no certificate)"}
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if !bytes.Equal(sum[:], pin) {
			return &certChangedError{server: server, want: hex.EncodeToString(pin), got: hex.EncodeToString(sum[:])}
		}
		return nil
	}
	return conf
}

// newTransport returns the transport of a client: the default one's
// settings (proxies from the environment, HTTP/2), many connections kept
// alive for parallel transfers, and a bound on how long a server may take
// to answer once it has the request (a Watch waits at most 60 s).
func newTransport(conf *tls.Config, failFast bool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if failFast {
		t.DialContext = (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	t.TLSClientConfig = conf
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.ResponseHeaderTimeout = 2 * time.Minute
	return t
}

// Probe connects to the server at rawURL, an https:// URL, and returns the
// fingerprint of its certificate (the SHA-256 of the leaf certificate's
// DER, in lower-case hex), and whether the system does not trust it for
// that host: self-signed, typically. It checks nothing else: the caller
// shows the fingerprint to the user to compare with the one the server's
// operator gives, and passes it as Options.Fingerprint (trust on first
// use).
func Probe(ctx context.Context, rawURL string) (fingerprint string, selfSigned bool, err error) {
	const op errors.Op = "remote.Probe"
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return "", false, errors.E(op, errors.Invalid, errors.Str("only an https:// URL has a certificate to check"))
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := &tls.Dialer{Config: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         u.Hostname(),
		InsecureSkipVerify: true, // the point is to see the certificate, and verify it below
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, errors.E(op, ctx.Err())
		}
		return "", false, errors.E(op, errors.Unavailable, describeNetErr(u.Host, err))
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", false, errors.E(op, errors.IO, errors.Str("the server "+u.Host+" sent no certificate"))
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, verr := certs[0].Verify(x509.VerifyOptions{DNSName: u.Hostname(), Intermediates: inter})
	return fingerprintOf(certs[0]), verr != nil, nil
}
