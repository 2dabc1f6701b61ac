package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/volume"
)

// readKeyFile reads the key file named by --key-file, or returns nil when
// the flag is not given.
func readKeyFile(a *args, flag string) ([]byte, error) {
	p := a.flag(flag)
	if p == "" {
		return nil, nil
	}
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return nil, errors.E(errors.NotExist, p, errors.Str("the key file is missing (is its USB key plugged in?)"))
	}
	if err != nil {
		return nil, errors.E(errors.IO, p, err)
	}
	if len(b) == 0 {
		return nil, errors.E(errors.Invalid, p, errors.Str("the key file is empty"))
	}
	return b, nil
}

// makeKeyFile reads the key file named by flag, creating it with a fresh
// random key if it does not exist yet.
func makeKeyFile(env *Env, a *args, flag string) ([]byte, error) {
	p := a.flag(flag)
	if p == "" {
		return nil, nil
	}
	if _, err := os.Stat(p); err == nil {
		return readKeyFile(a, flag)
	}
	b := keys.NewKeyFile()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, errors.E(errors.IO, p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, errors.E(errors.IO, p, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return nil, errors.E(errors.IO, p, err)
	}
	fmt.Fprintf(env.Stderr, "Wrote a new key file to %s: keep it (and a copy) safe; without it the account does not open.\n", p)
	return b, nil
}

// newPassphrase reads a new passphrase from DVPC_NEW_PASSPHRASE,
// --new-passphrase-file, or the terminal (twice).
func newPassphrase(env *Env, a *args) ([]byte, error) {
	return readSecret(env, a, "new passphrase", true)
}

// accountChange is a new account envelope to store, with what a server
// needs to accept it.
type accountChange struct {
	acct     *keys.Account
	oldAuth  keys.Key   // proves the old passphrase to a server
	auth     keys.Key   // the new passphrase's auth key
	recovery []keys.Key // the recovery code hashes, when they changed
}

// saveAccount stores a changed envelope on every mirror of the set: on a
// server through its account route, so that the old passphrase stops
// working there too; elsewhere by replacing the object. A mirror that
// cannot be reached keeps the old envelope, and the error names it.
func saveAccount(ctx context.Context, env *Env, c *clientConfig, ch *accountChange) error {
	var failed []string
	for _, m := range c.mirrors() {
		var err error
		if kindOf(m.Endpoints[0]) == "http" {
			mc := *c
			mc.Mirror, mc.User, mc.Token, mc.Fingerprint, mc.InsecureHTTP = m.Endpoints[0], m.User, m.Token, m.Fingerprint, m.InsecureHTTP
			err = saveRemoteAccount(ctx, &mc, ch)
		} else {
			for _, e := range m.Endpoints {
				if err = openEndpoint(ctx, env, &m, e).Put(ctx, volume.AccountObject, ch.acct.Marshal()); err == nil {
					break
				}
			}
		}
		if err != nil {
			failed = append(failed, m.Endpoints[0]+" ("+message(err)+")")
		}
	}
	if len(failed) > 0 {
		return errors.E(errors.Unavailable, errors.Str("the account was changed on the other mirrors but not on "+strings.Join(failed, ", ")+
			": there the old passphrase still opens it; change it again when they can be reached"))
	}
	return nil
}

// unlockAccount reads the account envelope of the logged-in mirror and
// opens it with the passphrase (and key file).
func unlockAccount(ctx context.Context, env *Env, a *args, root blob.Store) (*keys.Account, keys.Key, keys.Key, error) {
	acct, err := volume.ReadAccount(ctx, root)
	if err != nil {
		return nil, keys.Key{}, keys.Key{}, err
	}
	kf, err := readKeyFile(a, "key-file")
	if err != nil {
		return nil, keys.Key{}, keys.Key{}, err
	}
	pass, err := passphrase(env, a, false)
	if err != nil {
		return nil, keys.Key{}, keys.Key{}, err
	}
	s := acct.Stretch(pass)
	master, err := acct.UnlockWith(s.Unwrap, kf)
	if err != nil {
		return nil, keys.Key{}, keys.Key{}, err
	}
	return acct, master, s.Auth, nil
}

// runPassphrase changes the passphrase, and with --new-key-file or
// --no-key-file the key file.
func runPassphrase(ctx context.Context, env *Env, a *args) error {
	noKF := a.bool("no-key-file")
	_ = a.flag("key-file")
	_ = a.flag("new-key-file")
	_ = a.flag("new-passphrase-file")
	if err := a.check(0, 0); err != nil {
		return err
	}
	c, root, err := loggedInMirror(env)
	if err != nil {
		return err
	}
	acct, master, oldAuth, err := unlockAccount(ctx, env, a, root)
	if err != nil {
		return err
	}
	pass, err := newPassphrase(env, a)
	if err != nil {
		return err
	}
	var kf []byte
	switch {
	case noKF:
	case a.flag("new-key-file") != "":
		if kf, err = makeKeyFile(env, a, "new-key-file"); err != nil {
			return err
		}
	case acct.KeyFileRequired():
		// Keep the key file in use.
		if kf, err = readKeyFile(a, "key-file"); err != nil {
			return err
		}
	}
	auth := acct.Rewrap(pass, kf, master)
	if err := saveAccount(ctx, env, c, &accountChange{acct: acct, oldAuth: oldAuth, auth: auth}); err != nil {
		return err
	}
	if c.pcKey != nil {
		// This PC's keys open with the new passphrase too.
		err := wrapPCKey(env, c, *c.pcKey, pass)
		if err == nil {
			err = saveConfig(env, c)
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "dvpc: the keys on this PC still open with the old passphrase: %s\n", message(err))
		}
	}
	fmt.Fprintln(env.Stdout, "Passphrase changed; the old one no longer opens the account.")
	if kf != nil {
		fmt.Fprintln(env.Stdout, "The account needs the key file to open.")
	}
	return nil
}

// runRecoveryCodes makes ten new one-time recovery codes, replacing any
// old ones, and prints them.
func runRecoveryCodes(ctx context.Context, env *Env, a *args) error {
	_ = a.flag("key-file")
	if err := a.check(0, 0); err != nil {
		return err
	}
	c, root, err := loggedInMirror(env)
	if err != nil {
		return err
	}
	acct, master, auth, err := unlockAccount(ctx, env, a, root)
	if err != nil {
		return err
	}
	codes, hashes := acct.NewRecoveryCodes(master)
	if err := saveAccount(ctx, env, c, &accountChange{acct: acct, oldAuth: auth, auth: auth, recovery: hashes}); err != nil {
		return err
	}
	fmt.Fprintln(env.Stdout, "Recovery codes: print them or write them down, and keep them apart from this PC.")
	fmt.Fprintln(env.Stdout, "Each opens the account once, without the passphrase or key file, to set a new passphrase:")
	fmt.Fprintln(env.Stdout, "  dvpc recover MIRROR [USER] --code CODE")
	for i, code := range codes {
		fmt.Fprintf(env.Stdout, "  %2d. %s\n", i+1, keys.FormatRecoveryCode(code))
	}
	fmt.Fprintln(env.Stdout, "Older recovery codes no longer work.")
	return nil
}

// loggedInMirror opens the mirror set of this PC's login, without the
// outbox: what account commands write must reach a quorum at once.
func loggedInMirror(env *Env) (*clientConfig, blob.Store, error) {
	c, err := loadConfig(env)
	if err != nil {
		return nil, nil, err
	}
	root, _, err := openSetWith(context.Background(), env, c, "", false)
	if err != nil {
		return nil, nil, err
	}
	return c, root, nil
}

// runRecover sets a new passphrase with a recovery code, on a folder
// mirror or a server, and logs this PC in.
func runRecover(ctx context.Context, env *Env, a *args) error {
	code := a.flag("code")
	if code == "" {
		return usagef("give the recovery code with --code CODE")
	}
	if isURL(a.arg(0, "")) {
		return runRecoverRemote(ctx, env, a, code)
	}
	_ = a.flag("new-passphrase-file")
	if err := a.check(1, 1); err != nil {
		return err
	}
	path, err := filepath.Abs(a.arg(0, ""))
	if err != nil {
		return errors.E(errors.Invalid, err)
	}
	root, err := openMirror(path)
	if err != nil {
		return err
	}
	acct, err := volume.ReadAccount(ctx, root)
	if err != nil {
		return err
	}
	master, id, _, err := acct.UnlockRecovery(code)
	if err != nil {
		return err
	}
	pass, err := newPassphrase(env, a)
	if err != nil {
		return err
	}
	acct.RemoveRecovery(id)
	acct.Rewrap(pass, nil, master)
	if err := root.Put(ctx, volume.AccountObject, acct.Marshal()); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "New passphrase set; that recovery code is used up (%d left). Log in with 'dvpc login %s'.\n", acct.RecoveryCount(), path)
	return nil
}
