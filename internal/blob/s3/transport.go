package s3

import (
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"
)

// transport is the HTTP transport of every store of the process, made
// once: its idle connections are kept per host, so that stores opened
// again (a test's, a check's) reuse them rather than leave each their own.
var transport = sync.OnceValue(newTransport)

// newTransport returns the HTTP transport of the stores: many idle
// connections per host, since packs, indexes and journal segments are
// fetched in parallel from one endpoint; bounded waits for a connection
// and for the first byte of an answer; no transparent decompression,
// which would break byte ranges.
func newTransport() http.RoundTripper {
	d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}
