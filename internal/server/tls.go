package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

// setupTLS chooses how the server speaks (see Config.TLSCert): with the
// given certificate, plain HTTP on loopback or when allowed, or with a
// self-signed certificate kept in DATA/tls/.
func (s *Server) setupTLS() error {
	const op errors.Op = "server.tls"
	var cert tls.Certificate
	var err error
	switch {
	case s.cfg.TLSCert != "":
		cert, err = tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
		if err != nil {
			return errors.E(op, errors.Invalid, s.cfg.TLSCert, err)
		}
	case isLoopback(s.ln.Addr()):
		return nil
	case s.cfg.InsecureHTTP:
		s.log.Warn("serving plain HTTP on an address that is not loopback: tokens cross the network in the clear unless a proxy adds TLS",
			"addr", s.Addr())
		return nil
	default:
		cert, err = selfSigned(filepath.Join(s.cfg.Data, "tls"), s.ln.Addr(), s.log.Info)
		if err != nil {
			return errors.E(op, err)
		}
	}
	sum := sha256.Sum256(cert.Certificate[0])
	s.fingerprint = hex.EncodeToString(sum[:])
	s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return nil
}

// isLoopback reports whether a listener's address is on loopback only.
func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// selfSigned loads the certificate and key in the folder dir, or makes
// them if either is missing: an ECDSA P-256 key (0600) and a certificate
// valid for ten years, for this host's names and the listen address.
// A file that is there but does not load is an error, not a reason to
// make a new identity that every client would then refuse.
func selfSigned(dir string, addr net.Addr, logf func(string, ...any)) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_, cerr := os.Stat(certPath)
	_, kerr := os.Stat(keyPath)
	if cerr == nil && kerr == nil {
		c, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return c, errors.E(errors.Corrupt, dir, err)
		}
		return c, nil
	}
	certPEM, keyPEM, err := makeCert(addr)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, errors.E(errors.IO, dir, err)
	}
	// The key first: a crash before the certificate is written leaves the
	// pair incomplete, and the next start makes both again.
	if err := writeFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	logf("made a self-signed TLS certificate", "cert", certPath)
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	return c, opErr("server.selfSigned", err)
}

// makeCert returns a new self-signed certificate and its key, as PEM.
func makeCert(addr net.Addr) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, errors.E(errors.IO, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, errors.E(errors.IO, err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "dvpc serve"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	if t, ok := addr.(*net.TCPAddr); ok && !t.IP.IsUnspecified() && !t.IP.IsLoopback() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, t.IP)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, errors.E(errors.IO, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, errors.E(errors.IO, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// writeFileAtomic writes data to path through a synced temporary file
// renamed into place, then syncs the folder.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	const op errors.Op = "server.writeFile"
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*~")
	if err != nil {
		return errors.E(op, errors.IO, path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return errors.E(op, errors.IO, path, err)
	}
	return nil
}
