package s3

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// newTransport returns the HTTP transport of a store: many idle
// connections per host, since packs, indexes and journal segments are
// fetched in parallel from one endpoint; bounded waits for a connection
// and for the first byte of an answer; no transparent decompression,
// which would break byte ranges.
func newTransport() http.RoundTripper {
	d := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	return guarded{&http.Transport{
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
	}}
}

// guarded is a transport that lets a listing's guard (list) count its
// requests, and end it.
type guarded struct{ base http.RoundTripper }

func (t guarded) RoundTrip(req *http.Request) (*http.Response, error) {
	if g, ok := req.Context().Value(listGuardKey{}).(*listGuard); ok && !g.request() {
		return nil, context.Cause(req.Context())
	}
	return t.base.RoundTrip(req)
}
