package server

import (
	"context"
	"crypto/tls"
	stderrors "errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/server/meta"
)

// Config configures a Server. The zero value of each limit means its
// default.
type Config struct {
	Listen string // host:port; port 0 picks a free one (see Addr)
	Data   string // the data folder: DATA/meta.db, DATA/accounts/, DATA/tls/

	// TLSCert and TLSKey are PEM files of the server's certificate and key.
	// Without them, a server listening on a loopback address speaks plain
	// HTTP, and any other gets a self-signed certificate made on first
	// start in DATA/tls/ and reused after.
	TLSCert, TLSKey string
	// InsecureHTTP allows plain HTTP on an address that is not loopback
	// (behind a proxy that terminates TLS, say) instead of a self-signed
	// certificate.
	InsecureHTTP bool

	MaxObject int64         // bytes in one object; default 256 MiB
	Signup    bool          // anyone may sign up; otherwise only an operator makes accounts
	Grace     time.Duration // how long a deleted volume is kept; default 7 days

	MaxObjectRequests    int           // object requests served at once; default 64
	ObjectWait           time.Duration // how long one waits for a slot before 503; default 1 s
	MaxWatches           int           // watches waiting at once; default 4096
	MaxWatchesPerAccount int           // of them, for one account; default 16
	MaxConns             int           // connections open at once; default 8192

	Log *slog.Logger     // default slog.Default()
	Now func() time.Time // the clock; default time.Now
}

// Defaults of Config's limits.
const (
	DefaultMaxObject            = 256 << 20
	DefaultGrace                = 7 * 24 * time.Hour
	DefaultMaxObjectRequests    = 64
	DefaultObjectWait           = time.Second
	DefaultMaxWatches           = 4096
	DefaultMaxWatchesPerAccount = 16
	DefaultMaxConns             = 8192
)

// Limits of the HTTP server itself.
const (
	readHeaderTimeout = 10 * time.Second
	maxHeaderBytes    = 16 << 10
	idleTimeout       = 2 * time.Minute
	bodyIdleTimeout   = time.Minute // an object body or reader that stalls this long is cut off
	shutdownTimeout   = 30 * time.Second
)

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxObjectRequests, DefaultMaxObjectRequests)
	def(&c.MaxWatches, DefaultMaxWatches)
	def(&c.MaxWatchesPerAccount, DefaultMaxWatchesPerAccount)
	def(&c.MaxConns, DefaultMaxConns)
	if c.MaxObject <= 0 {
		c.MaxObject = DefaultMaxObject
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.ObjectWait <= 0 {
		c.ObjectWait = DefaultObjectWait
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server is a running `dvpc serve`. New makes one and listens; Serve
// serves until its context ends.
type Server struct {
	cfg Config
	log *slog.Logger
	db  *meta.DB

	ln          net.Listener
	tls         *tls.Config // nil for plain HTTP
	fingerprint string
	http        *http.Server

	objects chan struct{} // a slot per object request being served
	hub     *hub
	users   *limiter // failed logins by user name
	addrs   *limiter // failed logins by client address
	signups *limiter // sign-ups by client address
	usage   *usage
	table   map[string]route

	active    gate          // handlers running
	done      chan struct{} // closed when the server begins to shut down
	stopping  func()        // closes done, once
	closeOnce sync.Once
	unlock    func()
}

// New opens (or makes) the data folder, chooses HTTP or HTTPS, and
// listens on cfg.Listen. Serve then serves; Close releases what New took
// if Serve is never called.
func New(cfg Config) (*Server, error) {
	const op errors.Op = "server.New"
	cfg = cfg.withDefaults()
	if cfg.Data == "" || cfg.Listen == "" {
		return nil, errors.E(op, errors.Invalid, errors.Str("a data folder and a listen address are required"))
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return nil, errors.E(op, errors.Invalid, errors.Str("--tls-cert and --tls-key go together"))
	}
	if err := os.MkdirAll(filepath.Join(cfg.Data, "accounts"), 0o700); err != nil {
		return nil, errors.E(op, errors.IO, cfg.Data, err)
	}
	s := &Server{
		cfg: cfg, log: cfg.Log,
		objects: make(chan struct{}, cfg.MaxObjectRequests),
		hub:     newHub(cfg.MaxWatches, cfg.MaxWatchesPerAccount),
		users:   newLimiter(userRate),
		addrs:   newLimiter(addrRate),
		signups: newLimiter(signupRate),
		usage:   newUsage(),
		done:    make(chan struct{}),
	}
	s.table = s.routes()
	s.stopping = sync.OnceFunc(func() { close(s.done) })
	if err := s.open(); err != nil {
		s.Close()
		return nil, errors.E(op, err)
	}
	return s, nil
}

// open takes the data folder, opens the database, listens, sets up TLS,
// and repairs what a crash may have left.
func (s *Server) open() error {
	unlock, err := lockData(filepath.Join(s.cfg.Data, "lock"))
	if err != nil {
		return err
	}
	s.unlock = unlock
	if s.db, err = meta.Open(filepath.Join(s.cfg.Data, "meta.db")); err != nil {
		return err
	}
	if s.ln, err = net.Listen("tcp", s.cfg.Listen); err == nil {
		s.ln = limitListener(s.ln, s.cfg.MaxConns)
	} else {
		kind := errors.Invalid // a malformed address, or no such host
		if stderrors.Is(err, syscall.EADDRINUSE) || stderrors.Is(err, syscall.EACCES) {
			kind = errors.Unavailable
		}
		return errors.E(kind, s.cfg.Listen, err)
	}
	if err := s.setupTLS(); err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           s,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: readHeaderTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s.recoverData(context.Background())
}

// Serve serves until ctx is done, then stops taking requests, lets those
// in flight finish (for up to 30 s), and closes. It returns nil after a
// clean shutdown.
func (s *Server) Serve(ctx context.Context) error {
	s.log.Info("dvpc serve listening", "addr", s.Addr(), "url", s.URL(), "data", s.cfg.Data,
		"tls", s.tls != nil, "fingerprint", s.fingerprint, "signup", s.cfg.Signup)
	var wg sync.WaitGroup
	reapCtx, stopReaper := context.WithCancel(ctx)
	wg.Go(func() { s.reapLoop(reapCtx) })
	flushCtx, stopFlush := context.WithCancel(context.Background())
	flushDone := make(chan struct{})
	go func() { s.flushLoop(flushCtx); close(flushDone) }()
	errc := make(chan error, 1)
	go func() {
		if s.tls != nil {
			errc <- s.http.ServeTLS(s.ln, "", "")
		} else {
			errc <- s.http.Serve(s.ln)
		}
	}()
	var err error
	clean := false
	select {
	case err = <-errc:
	case <-ctx.Done():
		s.log.Info("dvpc serve shutting down")
		s.stopping()
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if clean = s.http.Shutdown(sctx) == nil; !clean {
			s.http.Close()
		}
		cancel()
		if err = <-errc; err == http.ErrServerClosed {
			err = nil
		}
	}
	stopReaper()
	wg.Wait()
	s.active.close() // handlers cut off by Close may still be finishing
	stopFlush()
	<-flushDone
	if clean {
		s.markClean()
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close releases the listener, the database and the data folder. Serve
// calls it; call it only for a Server that was never served.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stopping()
		s.active.close()
		if s.ln != nil {
			s.ln.Close()
		}
		if s.db != nil {
			err = s.db.Close()
		}
		if s.unlock != nil {
			s.unlock()
		}
	})
	return err
}

// Addr returns the address the server listens on, with the port it got.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns the server's base URL for a client on this machine: the
// listen address, with an unspecified host (0.0.0.0, ::) as loopback.
func (s *Server) URL() string {
	scheme := "http://"
	if s.tls != nil {
		scheme = "https://"
	}
	a := s.ln.Addr().(*net.TCPAddr)
	ip := a.IP
	if ip.IsUnspecified() {
		// A wildcard listener may report "::" for "0.0.0.0": the family
		// the operator wrote decides.
		host, _, _ := net.SplitHostPort(s.cfg.Listen)
		ip = net.IPv4(127, 0, 0, 1)
		if h := net.ParseIP(host); h != nil && h.To4() == nil {
			ip = net.IPv6loopback
		}
	}
	return scheme + net.JoinHostPort(ip.String(), itoa(int64(a.Port)))
}

// Fingerprint returns the SHA-256 of the server certificate (DER), in
// hex, for clients to pin; "" for plain HTTP.
func (s *Server) Fingerprint() string { return s.fingerprint }

// Handler returns the server's HTTP handler, for tests that serve it
// themselves (httptest).
func (s *Server) Handler() http.Handler { return s }

// gate counts running handlers, so that the database is closed only once
// none is left; a handler that comes after close is refused.
type gate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	n      int
	closed bool
}

// enter counts a handler in, unless the gate is closed.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) exit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n--; g.n == 0 && g.cond != nil {
		g.cond.Broadcast()
	}
}

// close shuts the gate and waits for the handlers inside.
func (g *gate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	for g.n > 0 {
		g.cond.Wait()
	}
}
