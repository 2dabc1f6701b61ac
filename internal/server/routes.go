package server

import (
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/server/meta"
)

// session is an authenticated request's account and device, read from the
// database for this request: a change by an operator counts at once.
type session struct {
	account   meta.Account
	device    meta.Device
	tokenHash [32]byte
}

// handler serves one route; ses is nil on routes without a token. It
// returns the refusal to send, if any, having written nothing.
type handler func(w http.ResponseWriter, r *http.Request, ses *session) error

type route struct {
	methods []string
	auth    bool
	fn      handler
}

var (
	post    = []string{http.MethodPost}
	get     = []string{http.MethodGet}
	objects = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete}
)

// routes are the fixed paths of docs/PROTOCOL.md; objects and device
// revocation, whose paths hold a name, are matched in ServeHTTP.
func (s *Server) routes() map[string]route {
	return map[string]route{
		"/v1/prelogin":             {get, false, s.prelogin},
		"/v1/signup":               {post, false, s.signup},
		"/v1/login":                {post, false, s.login},
		"/v1/recover":              {post, false, s.recover},
		"/v1/recover/account":      {post, false, s.recoverEnvelope},
		"/v1/logout":               {post, true, s.logout},
		"/v1/account":              {get, true, s.accountInfo},
		"/v1/account/passphrase":   {post, true, s.passphrase},
		"/v1/account/totp":         {post, true, s.totpBegin},
		"/v1/account/totp/confirm": {post, true, s.totpConfirm},
		"/v1/account/totp/disable": {post, true, s.totpDisable},
		"/v1/devices":              {get, true, s.devices},
		"/v1/list":                 {get, true, s.list},
		"/v1/watch":                {get, true, s.watch},
	}
}

// ServeHTTP serves the protocol. Paths are matched as they come, never
// cleaned or redirected: an object name is checked by blob.ValidName and
// anything else is refused.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.active.enter() {
		writeError(w, &apiError{code: codeUnavailable, msg: "the server is shutting down; retry", retryAfter: time.Second})
		return
	}
	defer s.active.exit()
	rt, ok := s.match(r)
	if !ok {
		s.fail(w, r, refuse(codeNotFound, "no such route"))
		return
	}
	if !slices.Contains(rt.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		s.fail(w, r, &apiError{code: codeInvalid, msg: "method not allowed", status: http.StatusMethodNotAllowed})
		return
	}
	var ses *session
	if rt.auth {
		var err error
		if ses, err = s.authenticate(r); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := rt.fn(w, r, ses); err != nil {
		s.fail(w, r, err)
	}
}

// match finds the route of r's path.
func (s *Server) match(r *http.Request) (route, bool) {
	p := r.URL.Path
	if name, ok := strings.CutPrefix(p, "/v1/o/"); ok {
		return route{objects, true, func(w http.ResponseWriter, r *http.Request, ses *session) error {
			return s.object(w, r, ses, name)
		}}, true
	}
	if rest, ok := strings.CutPrefix(p, "/v1/devices/"); ok {
		if id, ok := strings.CutSuffix(rest, "/revoke"); ok {
			return route{post, true, func(w http.ResponseWriter, r *http.Request, ses *session) error {
				return s.revoke(w, r, ses, id)
			}}, true
		}
	}
	rt, ok := s.table[p]
	return rt, ok
}

// authenticate returns the session of the request's token, or the
// refusal: no or unknown token, revoked device, disabled account.
func (s *Server) authenticate(r *http.Request) (*session, error) {
	th, ok := parseBearer(r.Header.Get("Authorization"))
	if !ok {
		return nil, refuse(codeUnauthenticated, "this route needs a token: Authorization: Bearer <token>")
	}
	ms, err := s.db.Authenticate(r.Context(), th)
	switch {
	case errors.Is(err, errors.NotExist):
		return nil, refuse(codeUnauthenticated, "unknown token: log in again")
	case err != nil:
		return nil, err
	case !ms.Device.Revoked.IsZero():
		return nil, refuse(codeDeviceRevoked, "this device was revoked")
	case ms.Account.Disabled:
		return nil, refuse(codeAccountDisabled, "this account is disabled")
	}
	if now := s.cfg.Now(); now.Sub(ms.Device.LastSeen) > meta.LastSeenResolution {
		if err := s.db.Touch(r.Context(), ms.Account.ID, ms.Device.ID, now); err != nil {
			s.log.Debug("cannot record last_seen", "account", ms.Account.ID, "err", err)
		}
	}
	return &session{account: ms.Account, device: ms.Device, tokenHash: th}, nil
}

// fail sends err as the protocol's error, logging what an operator must
// see: internal errors and a full disk.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		s.log.Debug("client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	e := fromErr(err)
	switch e.code {
	case codeInternal:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case codeDiskFull:
		s.log.Error("disk full: request refused, nothing stored", "method", r.Method, "path", r.URL.Path, "err", err)
	case codeUnavailable:
		if e.cause != nil {
			s.log.Warn("request refused: unavailable", "method", r.Method, "path", r.URL.Path, "err", e.cause)
		}
	}
	writeError(w, e)
}

// clientAddr returns the host part of the request's remote address, the
// key of per-address rate limits.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// logAttrs are the attributes every account event logs.
func logAttrs(r *http.Request, user string) []any {
	return []any{slog.String("user", user), slog.String("addr", clientAddr(r))}
}
