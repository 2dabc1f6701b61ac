package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/seal"
)

// The keys a login keeps on this PC (the volume key and the device's
// signing key) are sealed in config.json under a PC key, a random key of
// this login. The PC key is kept three ways:
//
//   - wrapped under the passphrase (Argon2id with a salt of its own), in
//     config.json: a stolen laptop, switched off, gives away nothing
//     without the passphrase;
//   - for the session, in the runtime folder ($XDG_RUNTIME_DIR, memory that
//     the OS empties at logout and shutdown), written when the passphrase
//     unlocks it, so that commands do not ask again ('dvpc lock' forgets);
//   - if the user chooses, on disk beside config.json ('dvpc unlock
//     --remember'), for a PC that must start unattended: then the disk
//     alone opens the volume.
//
// docs/FORMAT.md ("The login on a PC") has the layout.

// sealedKeys is the sealed part of config.json.
type sealedKeys struct {
	KDF     keys.Params `json:"kdf"`
	Salt    []byte      `json:"salt"`
	PCKey   []byte      `json:"pc_key"` // the PC key, sealed under the stretched passphrase
	Secrets []byte      `json:"keys"`   // volume key || device seed, sealed under the PC key
}

func pcKeyAD(c *clientConfig) []byte   { return []byte("dvpc pc key " + c.Device) }
func secretsAD(c *clientConfig) []byte { return []byte("dvpc login keys " + c.Volume + " " + c.Device) }

// sealLogin makes a new PC key for the login c, wraps it under pass, and
// unlocks this session; saveConfig then keeps c's keys sealed.
func sealLogin(env *Env, c *clientConfig, pass []byte) error {
	var k keys.Key
	rand.Read(k[:])
	if err := wrapPCKey(env, c, k, pass); err != nil {
		return err
	}
	c.pcKey = &k
	return nil
}

// wrapPCKey (re)wraps the PC key k under pass.
func wrapPCKey(env *Env, c *clientConfig, k keys.Key, pass []byte) error {
	if c.Device == "" {
		return errors.E(errors.Invalid, errors.Str("the login has no device yet"))
	}
	p := kdfParams(env)
	salt := make([]byte, 16)
	rand.Read(salt)
	s := keys.Stretch(pass, salt, p)
	if c.Sealed == nil {
		c.Sealed = &sealedKeys{}
	}
	c.Sealed.KDF, c.Sealed.Salt = p, salt
	c.Sealed.PCKey = seal.NewKey(keys.Derive(s.Unwrap, "dvpc v1 pc key")).Seal(nil, k[:], pcKeyAD(c))
	return nil
}

// sealSecrets fills c.Sealed.Secrets from c's keys, under its PC key.
func sealSecrets(c *clientConfig) {
	plain := append(append([]byte(nil), c.VolumeKey...), c.DeviceKey...)
	c.Sealed.Secrets = seal.NewKey(*c.pcKey).Seal(nil, plain, secretsAD(c))
}

// openSecrets fills c's keys from c.Sealed.Secrets under the PC key k.
func openSecrets(c *clientConfig, k keys.Key) error {
	plain, err := seal.NewKey(k).Open(nil, c.Sealed.Secrets, secretsAD(c))
	if err != nil || len(plain) != keys.Size+ed25519.SeedSize {
		return errors.E(errors.Corrupt, errors.Str("the keys in the client config do not open with this PC's key: run 'dvpc login' again"))
	}
	c.VolumeKey, c.DeviceKey = plain[:keys.Size], plain[keys.Size:]
	c.pcKey = &k
	return nil
}

// sessionKeyPath is where this session keeps the PC key of device dev:
// $XDG_RUNTIME_DIR, else /run/user/UID, else the temporary folder.
func sessionKeyPath(env *Env, dev string) string {
	d := env.Getenv("XDG_RUNTIME_DIR")
	if d == "" || !filepath.IsAbs(d) {
		d = "/run/user/" + strconv.Itoa(os.Getuid())
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			d = filepath.Join(os.TempDir(), "dvpc-"+strconv.Itoa(os.Getuid()))
		}
	}
	return filepath.Join(d, "dvpc", dev+".key")
}

// rememberedKeyPath is where 'dvpc unlock --remember' keeps the PC key.
func rememberedKeyPath(env *Env) string {
	return filepath.Join(filepath.Dir(configPath(env)), "pc.key")
}

// writeKeyFile writes a PC key readable by the user alone.
func writePCKey(p string, k keys.Key) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return errors.E(errors.IO, err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, k[:], 0o600); err != nil {
		os.Remove(tmp)
		return errors.E(errors.IO, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return errors.E(errors.IO, err)
	}
	return nil
}

func readPCKey(p string) (keys.Key, bool) {
	var k keys.Key
	b, err := os.ReadFile(p)
	if err != nil || len(b) != keys.Size {
		return k, false
	}
	copy(k[:], b)
	return k, true
}

// unlockConfig opens the sealed keys of c: with the remembered or the
// session's PC key if there is one, else with the passphrase (from
// DVPC_PASSPHRASE, --passphrase-file or the terminal), which then unlocks
// the session.
func unlockConfig(env *Env, c *clientConfig) error {
	for _, p := range []string{rememberedKeyPath(env), sessionKeyPath(env, c.Device)} {
		if k, ok := readPCKey(p); ok {
			if err := openSecrets(c, k); err == nil {
				return nil
			}
			os.Remove(p) // of an older login
		}
	}
	a := &args{flags: map[string]string{}, used: map[string]bool{}}
	if env.passFile != "" {
		a.flags["passphrase-file"] = env.passFile
	}
	pass, err := passphrase(env, a, false)
	if err != nil {
		return errors.E(errors.Permission, errors.Str("the keys on this PC are locked under the passphrase: run 'dvpc unlock', or give it in DVPC_PASSPHRASE or --passphrase-file"))
	}
	k, err := unwrapPCKey(c, pass)
	if err != nil {
		return err
	}
	if err := openSecrets(c, k); err != nil {
		return err
	}
	// The session stays unlocked; failing to note it only means asking
	// again next time.
	writePCKey(sessionKeyPath(env, c.Device), k)
	return nil
}

// unwrapPCKey opens the PC key with the passphrase.
func unwrapPCKey(c *clientConfig, pass []byte) (keys.Key, error) {
	var k keys.Key
	if err := c.Sealed.KDF.Validate(); err != nil {
		return k, errors.E(errors.Corrupt, errors.Str("the client config is damaged: run 'dvpc login' again"))
	}
	s := keys.Stretch(pass, c.Sealed.Salt, c.Sealed.KDF)
	b, err := seal.NewKey(keys.Derive(s.Unwrap, "dvpc v1 pc key")).Open(nil, c.Sealed.PCKey, pcKeyAD(c))
	if err != nil || len(b) != keys.Size {
		return k, errors.E(errors.Permission, errors.Str("wrong passphrase: the keys on this PC did not open (they open with the passphrase this PC logged in with)"))
	}
	copy(k[:], b)
	return k, nil
}

// runUnlock: dvpc unlock [--remember].
func runUnlock(ctx context.Context, env *Env, a *args) error {
	remember := a.bool("remember")
	if err := a.check(0, 0); err != nil {
		return err
	}
	c, err := readConfig(env)
	if err != nil {
		return err
	}
	if c.Sealed == nil {
		return errors.E(errors.Invalid, errors.Str("the keys on this PC are not sealed ('dvpc lock' seals them)"))
	}
	pass, err := passphrase(env, a, false)
	if err != nil {
		return err
	}
	k, err := unwrapPCKey(c, pass)
	if err != nil {
		return err
	}
	if err := openSecrets(c, k); err != nil {
		return err
	}
	if err := writePCKey(sessionKeyPath(env, c.Device), k); err != nil {
		return err
	}
	if remember {
		if err := writePCKey(rememberedKeyPath(env), k); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Unlocked, and remembered in %s: anyone who can read this PC's disk can now read the volume; 'dvpc lock' forgets.\n", rememberedKeyPath(env))
		return nil
	}
	fmt.Fprintln(env.Stdout, "Unlocked until this session ends or 'dvpc lock'.")
	return nil
}

// runLock: dvpc lock. Forgets the session's and the remembered PC key; a
// login whose keys are in the clear (made before they were sealed) is
// sealed under the passphrase.
func runLock(ctx context.Context, env *Env, a *args) error {
	if err := a.check(0, 0); err != nil {
		return err
	}
	c, err := readConfig(env)
	if err != nil {
		return err
	}
	if c.Sealed == nil {
		pass, err := passphrase(env, a, true)
		if err != nil {
			return err
		}
		if err := sealLogin(env, c, pass); err != nil {
			return err
		}
		if err := saveConfig(env, c); err != nil {
			return err
		}
	}
	var errs []error
	for _, p := range []string{sessionKeyPath(env, c.Device), rememberedKeyPath(env)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.E(errors.IO, errs[0])
	}
	fmt.Fprintln(env.Stdout, "Locked: the next command asks for the passphrase. (A running mount keeps its keys until it ends.)")
	return nil
}
