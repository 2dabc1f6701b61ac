package cli

import (
	"context"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/server"
	"github.com/dvpc/dvpc/internal/volume"
)

// DefaultUpListen is where the server that 'dvpc up' runs for this PC
// listens unless told otherwise: loopback, and a port apart from
// 'dvpc serve's.
const DefaultUpListen = "127.0.0.1:7707"

// runUp is the one command a newcomer runs. On a PC with no login it runs
// a dvpc server inside this process (on the loopback, its data in this
// user's data folder), makes an account and a volume on it, and logs this
// PC in; then, and on every later run, it mounts the drive as 'dvpc mount'
// does, until it is unmounted. A login whose mirror is that server gets
// it started again first.
func runUp(ctx context.Context, env *Env, a *args) error {
	f := upFlags{listen: a.flag("listen"), user: a.flag("user"), name: a.flag("name"), dev: deviceName(a)}
	debug := a.bool("debug")
	offline := a.bool("offline")
	a.accept("key-file", "otp")
	if err := a.check(0, 1); err != nil {
		return err
	}
	if f.listen != "" && !loopback(f.listen) {
		return usagef("--listen takes a loopback address such as %s: this server is for this PC alone ('dvpc serve' serves other PCs)", DefaultUpListen)
	}
	dir, err := upFolder(env, a)
	if err != nil {
		return err
	}
	c, srv, err := upLogin(ctx, env, a, dir, f)
	if err != nil {
		return err
	}
	if srv != nil {
		// The mirror stops only after the mount has sent it what was
		// written.
		defer srv.close(env)
	}
	return mountVolume(ctx, env, c, dir, mountOptions{offline: offline, debug: debug, create: true, ready: func() {
		fmt.Fprintf(env.Stdout, "Your drive is at %s (its past: %s/.dvpc/at/TIME). Ctrl-C or 'dvpc unmount %s' stops it.\n", dir, dir, dir)
	}})
}

// upFlags are what 'dvpc up' takes to set a PC up.
type upFlags struct {
	listen string // the embedded server's address
	user   string // the account's user name
	name   string // the volume's name
	dev    string // this PC's device name
}

// upLogin returns this PC's login, made now if there is none, and the
// embedded server it needs, running (nil if it needs none).
func upLogin(ctx context.Context, env *Env, a *args, dir string, f upFlags) (*clientConfig, *embedded, error) {
	c, err := loadConfig(env)
	if err == nil {
		srv, err := upAgain(env, c, f.listen)
		return c, srv, err
	}
	if !errors.Is(err, errors.NotExist) {
		return nil, nil, err
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, nil, errors.E(errors.NotDir, dir, errors.Str("the place for the drive is not a folder: give another with 'dvpc up DIR'"))
	}
	if f.listen == "" {
		f.listen = DefaultUpListen
	}
	if f.user == "" {
		f.user = defaultUser(env)
	}
	srv, err := upFirst(ctx, env, a, f)
	if err != nil {
		return nil, nil, err
	}
	if c, err = loadConfig(env); err != nil {
		srv.close(env)
		return nil, nil, err
	}
	return c, srv, nil
}

// upFolder is where 'dvpc up' mounts the drive: DIR, or ~/DVPC.
func upFolder(env *Env, a *args) (string, error) {
	dir := a.arg(0, "")
	if dir == "" {
		home := env.Getenv("HOME")
		if home == "" {
			return "", usagef("no HOME: say where the drive goes with 'dvpc up DIR'")
		}
		dir = filepath.Join(home, "DVPC")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", errors.E(errors.Invalid, err)
	}
	return abs, nil
}

// defaultUser is the account name when --user is not given: the login
// name in lower case if a server takes it as a user name, else "me".
func defaultUser(env *Env) string {
	u := strings.ToLower(env.Getenv("USER"))
	if u == "" || len(u) > 64 {
		return "me"
	}
	for i, c := range u {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return "me"
		}
	}
	return u
}

// loopback reports whether addr is HOST:PORT with HOST a loopback IP.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// upFirst sets this PC up: it starts the embedded server, makes the
// account and its volume on it (or logs in to the account if the server
// has it already), and logs this PC in. It returns the running server. If
// it fails it leaves no login, and no server data it made.
func upFirst(ctx context.Context, env *Env, a *args, f upFlags) (*embedded, error) {
	data := serverDataDir(env)
	_, serr := os.Stat(data)
	fresh := os.IsNotExist(serr)
	srv, err := startEmbedded(env, f.listen, data)
	if err != nil {
		if fresh {
			removeData(data) // the server made it before it failed
		}
		if addrInUse(err) {
			return nil, errors.E(errors.Unavailable, errors.Str(f.listen+" is taken by another program: choose a free address for this PC's server with --listen 127.0.0.1:PORT"))
		}
		return nil, err
	}
	rec := &upRecord{Mirror: srv.srv.URL(), Data: data, Listen: srv.srv.Addr()}
	if err := upSetUp(ctx, env, a, rec, f); err != nil {
		srv.close(env)
		if _, cerr := loadConfig(env); cerr == nil {
			return nil, err // logged in after all (a login that failed on its way out): keep what it uses
		}
		os.Remove(upRecordPath(env))
		if fresh {
			removeData(data)
		}
		return nil, err
	}
	return srv, nil
}

// upSetUp remembers the embedded server, and logs this PC in to it.
func upSetUp(ctx context.Context, env *Env, a *args, rec *upRecord, f upFlags) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return errors.E(errors.Unavailable, errors.Str("FUSE is not available on this PC (no /dev/fuse): the drive needs it; install fuse3"))
	}
	if err := saveUpRecord(env, rec); err != nil {
		return err
	}
	return upAccount(ctx, env, a, rec, f)
}

// upAccount makes the account user and its first volume on the embedded
// server, and logs this PC in to it. An account the server has already
// (made by an earlier 'dvpc up', on a PC since logged out) is logged in
// to instead.
func upAccount(ctx context.Context, env *Env, a *args, rec *upRecord, f upFlags) error {
	user, name, dev := f.user, f.name, f.dev
	adm, err := server.OpenAdmin(rec.Data)
	if err != nil {
		return err
	}
	defer adm.Close()
	if _, err := adm.Account(ctx, user); err == nil {
		return upExisting(ctx, env, a, rec.Mirror, user, name, dev)
	} else if !errors.Is(err, errors.NotExist) {
		return err
	}
	if name == "" {
		name = "default"
	}
	pass, err := passphrase(env, a, true)
	if err != nil {
		return err
	}
	kf, err := makeKeyFile(env, a, "key-file")
	if err != nil {
		return err
	}
	// The account is made by the operator's route, not by signing up:
	// the server takes no sign-ups, so no other user of this PC can fill
	// it.
	acct, master, auth := keys.NewAccount(pass, kf, kdfParams(env))
	if _, err := adm.CreateAccount(ctx, user, acct.Marshal(), auth[:]); err != nil {
		return err
	}
	cl, err := remote.New(rec.Mirror, remote.Options{UserAgent: "dvpc/" + Version})
	if err != nil {
		return err
	}
	id := volume.NewIdentity(dev)
	sess, err := cl.Login(ctx, &remote.LoginRequest{User: user, Auth: auth[:], Device: remote.DeviceRef{ID: id.ID.String(), Name: id.Name}})
	if err != nil {
		return serverError(err, rec.Mirror, user)
	}
	root := cl.Store()
	cfg, vk, err := volume.CreateVolume(ctx, root, master, name, chunk.DefaultParams(), env.Now())
	if err != nil {
		return err
	}
	c := &clientConfig{Mirror: rec.Mirror, User: user, Token: sess.Token}
	if err := registerDevice(ctx, env, root, c, cfg, vk, id, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Created the account %s with volume %q on this PC's own server (%s); this PC is device %q.\n", user, name, rec.Mirror, dev)
	fmt.Fprintf(env.Stdout, "Your files are kept, encrypted, in %s, on this PC only: 'dvpc mirror add' puts copies elsewhere (a USB drive, a server).\n", rec.Data)
	return nil
}

// upExisting logs this PC in to an account the embedded server has, as
// 'dvpc login URL USER' does.
func upExisting(ctx context.Context, env *Env, a *args, url, user, volName, dev string) error {
	argv := []string{url, user, "--device", dev}
	if volName != "" {
		argv = append(argv, "--volume", volName)
	}
	for _, f := range []string{"passphrase-file", "key-file", "otp"} {
		if v := a.flag(f); v != "" {
			argv = append(argv, "--"+f, v)
		}
	}
	la, err := parseArgs(argv)
	if err != nil {
		return err
	}
	return loginRemote(ctx, env, la, url)
}

// upAgain starts the embedded server again when the login's mirror set
// holds it, on the address and data it had; else there is none to start.
func upAgain(env *Env, c *clientConfig, listen string) (*embedded, error) {
	rec, err := loadUpRecord(env)
	if err != nil || !hasEndpoint(c, rec.Mirror) {
		return nil, nil // this login's mirrors are elsewhere
	}
	if listen != "" && listen != rec.Listen {
		return nil, usagef("this PC's server answers at %s, which the login names: it cannot move (drop --listen)", rec.Listen)
	}
	if _, err := os.Stat(filepath.Join(rec.Data, "meta.db")); err != nil {
		return nil, errors.E(errors.NotExist, rec.Data, errors.Str("the data of this PC's server is missing: the drive shows what this PC kept; restore the folder, or log in to another mirror"))
	}
	srv, err := startEmbedded(env, rec.Listen, rec.Data)
	switch {
	case addrInUse(err):
		return nil, errors.E(errors.Unavailable, errors.Str(rec.Listen+", where this PC's server answers, is taken: is 'dvpc up' running already? If not, stop the program that holds it"))
	case errors.Is(err, errors.Unavailable):
		return nil, errors.E(errors.Unavailable, rec.Data, errors.Str("the data folder of this PC's server is in use: is 'dvpc up' (or 'dvpc serve' on it) running already?"))
	}
	return srv, err
}

// hasEndpoint reports whether url is an endpoint of a mirror of c.
func hasEndpoint(c *clientConfig, url string) bool {
	for _, m := range c.mirrors() {
		for _, e := range m.Endpoints {
			if e == url {
				return true
			}
		}
	}
	return false
}

// embedded is the dvpc server that 'dvpc up' runs inside its own
// process: the same server as 'dvpc serve', on the loopback, taking no
// sign-ups.
type embedded struct {
	srv  *server.Server
	stop context.CancelFunc
	done chan error
}

// startEmbedded starts a server on listen with its data in data; it
// answers once this returns.
func startEmbedded(env *Env, listen, data string) (*embedded, error) {
	s, err := server.New(server.Config{Listen: listen, Data: data,
		Log: slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	// Not the command's context: on Ctrl-C the server stays up until the
	// mount has sent it what was written.
	ctx, cancel := context.WithCancel(context.Background())
	e := &embedded{srv: s, stop: cancel, done: make(chan error, 1)}
	go func() { e.done <- s.Serve(ctx) }()
	return e, nil
}

// close stops the server once the requests in flight are answered.
func (e *embedded) close(env *Env) {
	e.stop()
	if err := <-e.done; err != nil {
		fmt.Fprintf(env.Stderr, "dvpc: this PC's server: %s\n", message(err))
	}
}

// addrInUse reports whether err is an address that another program
// listens on.
func addrInUse(err error) bool { return stderrors.Is(err, syscall.EADDRINUSE) }

// removeData removes a server data folder that 'dvpc up' made, and the
// folder above it if that is left empty.
func removeData(data string) {
	os.RemoveAll(data)
	os.Remove(filepath.Dir(data))
}

// upRecord is what this PC remembers of the server 'dvpc up' runs, in
// $XDG_CONFIG_HOME/dvpc/up.json: a login whose mirrors include Mirror
// gets it started again.
type upRecord struct {
	Mirror string `json:"mirror"` // its URL, as the login names it
	Data   string `json:"data"`   // its data folder
	Listen string `json:"listen"` // its address
}

func upRecordPath(env *Env) string {
	return filepath.Join(xdgDir(env, "XDG_CONFIG_HOME", ".config"), "up.json")
}

func loadUpRecord(env *Env) (*upRecord, error) {
	b, err := os.ReadFile(upRecordPath(env))
	if err != nil {
		return nil, err
	}
	r := &upRecord{}
	if err := json.Unmarshal(b, r); err != nil || r.Mirror == "" || r.Data == "" || r.Listen == "" {
		return nil, errors.E(errors.Corrupt, upRecordPath(env), errors.Str("damaged"))
	}
	return r, nil
}

// saveUpRecord writes the record whole: a crash leaves the old one or the
// new.
func saveUpRecord(env *Env, r *upRecord) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	p := upRecordPath(env)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return errors.E(errors.IO, err)
	}
	if err := os.WriteFile(p+".tmp", b, 0o600); err != nil {
		os.Remove(p + ".tmp")
		return errors.E(errors.IO, p, err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		os.Remove(p + ".tmp")
		return errors.E(errors.IO, p, err)
	}
	return nil
}
