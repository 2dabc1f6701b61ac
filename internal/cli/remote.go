package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/volume"
)

// isURL reports whether a mirror location is the URL of a dvpc server.
func isURL(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// configClient is a client of the server of a login, with its token.
func configClient(c *clientConfig) (*remote.Client, error) {
	if !isURL(c.Mirror) {
		return nil, errors.E(errors.Invalid, errors.Str("this PC is logged in to a folder mirror, not to a server"))
	}
	return remote.New(c.Mirror, remote.Options{Token: c.Token, Fingerprint: c.Fingerprint, AllowPlainHTTP: c.InsecureHTTP, UserAgent: "dvpc/" + Version})
}

// trustServer decides which certificate fingerprint to pin for a server
// on first contact. A certificate the system trusts needs no pin. A
// self-signed one is pinned once the user has compared its fingerprint
// with the one the server's operator shows: given with --fingerprint, or
// confirmed at the terminal.
func trustServer(ctx context.Context, env *Env, a *args, url string) (string, error) {
	given := normFingerprint(a.flag("fingerprint"))
	if !strings.HasPrefix(url, "https://") {
		return "", nil
	}
	fp, selfSigned, err := remote.Probe(ctx, url)
	if err != nil {
		return "", err
	}
	switch {
	case given != "" && given != fp:
		return "", errors.E(errors.Permission, url, errors.Str("the server's certificate has fingerprint "+fp+", not the one given with --fingerprint: you may not be talking to your server; do not log in"))
	case given != "":
		return fp, nil
	case !selfSigned:
		return "", nil
	}
	fmt.Fprintf(env.Stderr, "The server %s has a self-signed certificate with the fingerprint\n  %s\n", url, fp)
	fmt.Fprintln(env.Stderr, "Compare it with the one 'dvpc serve' printed when it started.")
	in, ok := env.Stdin.(*os.File)
	if !ok || !env.IsTerminal(env.Stderr) || in == nil || !isTerm(in) {
		return "", errors.E(errors.Permission, url, errors.Str("the server's certificate is self-signed: once you have compared its fingerprint, pass --fingerprint "+fp))
	}
	fmt.Fprint(env.Stderr, "Is it the same? [y/N] ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
		return "", errors.E(errors.Permission, url, errors.Str("certificate not trusted; nothing was done"))
	}
	return fp, nil
}

func normFingerprint(s string) string {
	return strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// serverError makes a server's refusal of a login say what to do.
func serverError(err error, url, user string) error {
	switch remote.Code(err) {
	case remote.CodeBadCredentials:
		return errors.E(errors.Permission, errors.Str("wrong user name or passphrase for "+url))
	case remote.CodeOTPRequired:
		return errors.E(errors.Permission, errors.Str("the account "+user+" asks for a TOTP code: add --otp CODE (from your authenticator app)"))
	case remote.CodeBadOTP:
		return errors.E(errors.Permission, errors.Str("wrong or already used TOTP code: wait for the next one and try again"))
	case remote.CodeDeviceRevoked:
		return errors.E(errors.Permission, errors.Str("this device was revoked: log in again with 'dvpc login "+url+" "+user+"'"))
	case remote.CodeAccountDisabled:
		return errors.E(errors.Permission, errors.Str("the account "+user+" is disabled on "+url+": ask the server's operator"))
	case remote.CodeRateLimited:
		return errors.E(errors.Unavailable, errors.Str(fmt.Sprintf("too many attempts: try again in %v", remote.RetryAfter(err).Round(1e9))))
	}
	return err
}

// remoteFlags are the flags of the commands that reach a server at first.
func newRemote(ctx context.Context, env *Env, a *args, url string) (*remote.Client, string, error) {
	insecure := a.bool("insecure-http")
	fp, err := trustServer(ctx, env, a, url)
	if err != nil {
		return nil, "", err
	}
	cl, err := remote.New(url, remote.Options{Fingerprint: fp, AllowPlainHTTP: insecure, UserAgent: "dvpc/" + Version})
	if err != nil {
		return nil, "", err
	}
	return cl, fp, nil
}

// runSignup creates an account and its first volume on a server.
func runSignup(ctx context.Context, env *Env, a *args) error {
	name := a.flag("name")
	dev := deviceName(a)
	a.accept("fingerprint", "insecure-http", "key-file")
	if err := a.check(2, 2); err != nil {
		return err
	}
	if name == "" {
		name = "default"
	}
	url, user := strings.TrimRight(a.arg(0, ""), "/"), a.arg(1, "")
	if !isURL(url) {
		return usagef("the first argument is the server's URL, like https://dvpc.example.org:7832")
	}
	cl, fp, err := newRemote(ctx, env, a, url)
	if err != nil {
		return err
	}
	kf, err := makeKeyFile(env, a, "key-file")
	if err != nil {
		return err
	}
	pass, err := passphrase(env, a, true)
	if err != nil {
		return err
	}
	acct, master, auth := keys.NewAccount(pass, kf, kdfParams(env))
	id := volume.NewIdentity(dev)
	sess, err := cl.Signup(ctx, &remote.SignupRequest{User: user, Auth: auth[:], Account: acct.Marshal(),
		Device: remote.DeviceRef{ID: id.ID.String(), Name: id.Name}})
	if err != nil {
		return serverError(err, url, user)
	}
	c := &clientConfig{Mirror: url, User: user, Token: sess.Token, Fingerprint: fp, InsecureHTTP: a.bool("insecure-http")}
	root := cl.Store()
	cfg, vk, err := volume.CreateVolume(ctx, root, master, name, chunk.DefaultParams(), env.Now())
	if err != nil {
		return err
	}
	if err := registerDevice(ctx, env, root, c, cfg, vk, id, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Signed up %s on %s with volume %q; this PC is device %q.\n", user, url, name, dev)
	return nil
}

// loginRemote logs this PC in to a server as a new device and opens one
// of the account's volumes.
func loginRemote(ctx context.Context, env *Env, a *args, url string) error {
	want := a.flag("volume")
	dev := deviceName(a)
	otp := a.flag("otp")
	a.accept("fingerprint", "insecure-http", "key-file")
	if err := a.check(2, 2); err != nil {
		return err
	}
	url, user := strings.TrimRight(url, "/"), a.arg(1, "")
	cl, fp, err := newRemote(ctx, env, a, url)
	if err != nil {
		return err
	}
	kf, err := readKeyFile(a, "key-file")
	if err != nil {
		return err
	}
	pre, err := cl.Prelogin(ctx, user)
	if err != nil {
		return serverError(err, url, user)
	}
	p := keys.Params{Time: pre.KDF.Time, MemoryKiB: pre.KDF.MemoryKiB, Threads: pre.KDF.Threads}
	if err := p.Validate(); err != nil || len(pre.Salt) != 16 {
		return errors.E(errors.Corrupt, url, errors.Str("the server sent implausible key stretching parameters"))
	}
	if floor := kdfParams(env); !p.AtLeast(floor) {
		return errors.E(errors.Permission, url, errors.Str(fmt.Sprintf(
			"the server asks to stretch the passphrase with Argon2id at %d pass(es) and %d KiB, below DVPC's minimum of %d and %d KiB: it could then guess the passphrase cheaply; do not log in to it",
			p.Time, p.MemoryKiB, floor.Time, floor.MemoryKiB)))
	}
	pass, err := passphrase(env, a, false)
	if err != nil {
		return err
	}
	s := keys.Stretch(pass, pre.Salt, p)
	id := volume.NewIdentity(dev)
	sess, err := cl.Login(ctx, &remote.LoginRequest{User: user, Auth: s.Auth[:], OTP: otp,
		Device: remote.DeviceRef{ID: id.ID.String(), Name: id.Name}})
	if err != nil {
		return serverError(err, url, user)
	}
	c := &clientConfig{Mirror: url, User: user, Token: sess.Token, Fingerprint: fp, InsecureHTTP: a.bool("insecure-http")}
	root := cl.Store()
	acct, err := volume.ReadAccount(ctx, root)
	if err != nil {
		return err
	}
	master, err := acct.UnlockWith(s.Unwrap, kf)
	if err != nil {
		return err
	}
	cfg, vk, err := pickVolume(ctx, root, master, want)
	if err != nil {
		return err
	}
	if err := registerDevice(ctx, env, root, c, cfg, vk, id, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Logged in to volume %q on %s as device %q.\n", cfg.Name, url, dev)
	return adoptMirrors(ctx, env, a, pass)
}

// pickVolume chooses the volume named want, or the only one.
func pickVolume(ctx context.Context, root blob.Store, master keys.Key, want string) (*volume.Config, keys.Key, error) {
	cfgs, vks, err := liveVolumes(ctx, root, master)
	if err != nil {
		return nil, keys.Key{}, err
	}
	var names []string
	for i, c := range cfgs {
		if want == "" && len(cfgs) == 1 || c.Name == want || c.ID.String() == want {
			return c, vks[i], nil
		}
		names = append(names, c.Name)
	}
	if len(cfgs) == 0 {
		return nil, keys.Key{}, errors.E(errors.NotExist, errors.Str("the account has no volume: 'dvpc volumes create NAME' makes one"))
	}
	if want == "" {
		return nil, keys.Key{}, errors.E(errors.NotExist, errors.Str("choose a volume with --volume NAME; the account has: "+strings.Join(names, ", ")))
	}
	return nil, keys.Key{}, errors.E(errors.NotExist, want, errors.Str("no such volume; the account has: "+strings.Join(names, ", ")))
}

// registerDevice records the device in the volume and saves the login,
// its keys sealed under pass (unlock.go); with pass nil, under the PC key
// c has already.
func registerDevice(ctx context.Context, env *Env, root blob.Store, c *clientConfig, cfg *volume.Config, vk keys.Key, id volume.Identity, pass []byte) error {
	if err := volume.Register(ctx, root, cfg, vk, id, env.Now()); err != nil {
		return err
	}
	c.Volume, c.VolumeName, c.VolumeKey = cfg.ID.String(), cfg.Name, vk[:]
	c.Chunk, c.Created, c.AccountKey = cfg.Chunk, cfg.Created, cfg.Account
	c.Device, c.DeviceName, c.DeviceKey = id.ID.String(), id.Name, id.Key.Seed()
	if pass != nil {
		if err := sealLogin(env, c, pass); err != nil {
			return err
		}
	}
	return saveConfig(env, c)
}

// saveRemoteAccount changes the account envelope on the server, with the
// old passphrase's proof.
func saveRemoteAccount(ctx context.Context, c *clientConfig, ch *accountChange) error {
	cl, err := configClient(c)
	if err != nil {
		return err
	}
	req := &remote.PassphraseRequest{OldAuth: ch.oldAuth[:], Auth: ch.auth[:], Account: ch.acct.Marshal()}
	for _, h := range ch.recovery {
		req.Recovery = append(req.Recovery, append([]byte(nil), h[:]...))
	}
	if err := cl.ChangePassphrase(ctx, req); err != nil {
		return serverError(err, c.Mirror, c.User)
	}
	return nil
}

// runRecoverRemote sets a new passphrase on a server with a recovery code
// and logs this PC in.
func runRecoverRemote(ctx context.Context, env *Env, a *args, code string) error {
	want := a.flag("volume")
	dev := deviceName(a)
	a.accept("fingerprint", "insecure-http", "new-passphrase-file")
	if err := a.check(2, 2); err != nil {
		return err
	}
	url, user := strings.TrimRight(a.arg(0, ""), "/"), a.arg(1, "")
	cl, fp, err := newRemote(ctx, env, a, url)
	if err != nil {
		return err
	}
	codeAuth, err := keys.RecoveryAuth(code)
	if err != nil {
		return err
	}
	env1, err := cl.RecoveryAccount(ctx, user, codeAuth[:])
	if err != nil {
		return serverError(err, url, user)
	}
	acct, err := keys.ParseAccount(env1)
	if err != nil {
		return errors.E(url, err)
	}
	master, slot, _, err := acct.UnlockRecovery(code)
	if err != nil {
		return err
	}
	pass, err := newPassphrase(env, a)
	if err != nil {
		return err
	}
	acct.RemoveRecovery(slot)
	auth := acct.Rewrap(pass, nil, master)
	id := volume.NewIdentity(dev)
	sess, err := cl.Recover(ctx, &remote.RecoverRequest{User: user, CodeAuth: codeAuth[:], Auth: auth[:], Account: acct.Marshal(),
		Device: remote.DeviceRef{ID: id.ID.String(), Name: id.Name}})
	if err != nil {
		return serverError(err, url, user)
	}
	c := &clientConfig{Mirror: url, User: user, Token: sess.Token, Fingerprint: fp, InsecureHTTP: a.bool("insecure-http")}
	root := cl.Store()
	cfg, vk, err := pickVolume(ctx, root, master, want)
	if err != nil {
		return err
	}
	if err := registerDevice(ctx, env, root, c, cfg, vk, id, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "New passphrase set; that recovery code is used up (%d left). Logged in to volume %q as device %q.\n", acct.RecoveryCount(), cfg.Name, dev)
	return nil
}

// deviceKey returns the signing key of the login.
func deviceKey(c *clientConfig) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(c.DeviceKey) }
