package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/cache"
	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/replica"
	"github.com/dvpc/dvpc/internal/volume"
)

// clientConfig is what this PC keeps of a login, in
// $XDG_CONFIG_HOME/dvpc/config.json, readable by the user only. It holds
// the volume key, so that commands do not ask for the passphrase each time:
// it is as sensitive as the passphrase (see docs/SECURITY.md).
type clientConfig struct {
	Mirror       string       `json:"mirror"` // a folder, or a server's URL
	User         string       `json:"user,omitempty"`
	Token        string       `json:"token,omitempty"`       // this device's server token
	Fingerprint  string       `json:"fingerprint,omitempty"` // the pinned server certificate
	InsecureHTTP bool         `json:"insecure_http,omitempty"`
	Volume       string       `json:"volume"`
	VolumeName   string       `json:"volume_name"`
	VolumeKey    []byte       `json:"volume_key,omitempty"` // in the clear only in a login made before keys were sealed
	Chunk        chunk.Params `json:"chunk"`
	Created      time.Time    `json:"created"`
	Device       string       `json:"device"`
	DeviceName   string       `json:"device_name"`
	DeviceKey    []byte       `json:"device_key,omitempty"` // Ed25519 seed; as VolumeKey
	// AccountKey is the account's public signing key, derived from the
	// master key at login: it verifies the volume's device records.
	AccountKey []byte `json:"account_key"`
	// The volume's mirror set as last read (empty: Mirror alone), with
	// this device's tokens for its servers; see mirror.go.
	Mirrors        []configMirror `json:"mirrors,omitempty"`
	Quorum         int            `json:"quorum,omitempty"`
	MirrorsVersion uint64         `json:"mirrors_version,omitempty"`
	// CacheSize bounds this PC's cache of the volume's chunks (0: a
	// tenth of the disk); 'dvpc mount --cache-size' sets it.
	CacheSize int64 `json:"cache_size,omitempty"`
	// Sealed holds VolumeKey and DeviceKey sealed under the PC key (see
	// unlock.go); pcKey is that key, once unlocked.
	Sealed *sealedKeys `json:"sealed,omitempty"`
	pcKey  *keys.Key
}

func xdgDir(env *Env, key, fallback string) string {
	if d := env.Getenv(key); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "dvpc")
	}
	return filepath.Join(env.Getenv("HOME"), fallback, "dvpc")
}

func configPath(env *Env) string {
	return filepath.Join(xdgDir(env, "XDG_CONFIG_HOME", ".config"), "config.json")
}

func stateDir(env *Env, vol string) string {
	return filepath.Join(xdgDir(env, "XDG_STATE_HOME", ".local/state"), "volumes", vol)
}

// loadConfig reads the login and unlocks its keys (unlock.go).
func loadConfig(env *Env) (*clientConfig, error) {
	c, err := readConfig(env)
	if err != nil || c.Sealed == nil {
		return c, err
	}
	if err := unlockConfig(env, c); err != nil {
		return nil, err
	}
	return c, nil
}

// readConfig reads the login, its keys still sealed.
func readConfig(env *Env) (*clientConfig, error) {
	b, err := os.ReadFile(configPath(env))
	if os.IsNotExist(err) {
		return nil, errors.E(errors.NotExist, errors.Str("this PC is not logged in to a volume: run 'dvpc init DIR' or 'dvpc login DIR' first"))
	}
	if err != nil {
		return nil, errors.E(errors.IO, configPath(env), err)
	}
	c := &clientConfig{}
	err = json.Unmarshal(b, c)
	switch {
	case err != nil:
	case c.Sealed != nil:
		if len(c.Sealed.PCKey) == 0 || len(c.Sealed.Secrets) == 0 || c.Device == "" {
			err = errors.Str("incomplete sealed keys")
		}
		c.VolumeKey, c.DeviceKey = nil, nil
	case len(c.VolumeKey) != keys.Size || len(c.DeviceKey) != ed25519.SeedSize:
		err = errors.Str("no keys")
	}
	if err != nil {
		return nil, errors.E(errors.Corrupt, configPath(env), errors.Str("client config is damaged: run 'dvpc login DIR' again"))
	}
	return c, nil
}

// saveConfig writes the login, its keys sealed when it has a PC key.
func saveConfig(env *Env, c *clientConfig) error {
	disk := *c
	if c.pcKey != nil {
		sealSecrets(c)
		disk.Sealed = c.Sealed
		disk.VolumeKey, disk.DeviceKey = nil, nil
	} else if c.Sealed != nil {
		return errors.E(errors.Invalid, errors.Str("the login's keys are locked"))
	}
	b, err := json.MarshalIndent(&disk, "", "  ")
	if err != nil {
		return err
	}
	p := configPath(env)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return errors.E(errors.IO, err)
	}
	// Written whole and synced before it replaces the old one: a crash
	// leaves the old login or the new, never an empty file.
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return errors.E(errors.IO, tmp, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return errors.E(errors.IO, p, err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		d.Sync()
		d.Close()
	}
	if c.pcKey != nil {
		// The session that logged in, or unlocked, stays unlocked.
		writePCKey(sessionKeyPath(env, c.Device), *c.pcKey)
	}
	return nil
}

// openMirror opens a folder mirror.
func openMirror(path string) (blob.Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errors.E(errors.Invalid, path, err)
	}
	s, err := dir.Open(abs)
	if err != nil {
		if errors.Is(err, errors.NotExist) {
			return nil, errors.E(errors.NotExist, abs, errors.Str("the mirror folder is missing or is not a folder (is the drive plugged in?)"))
		}
		return nil, errors.E(abs, err)
	}
	return s, nil
}

// session is an open volume, locked for this process.
type session struct {
	ctx    context.Context
	env    *Env
	set    *replica.Set
	stores []blob.Store // every endpoint of every mirror
	cfg    *clientConfig
	vol    *volume.Volume
	lock   *os.File
	stage  *volume.Stage // a mount's leftover changes that could not be committed yet, if any
	cache  *cache.Cache  // this PC's sealed chunks; nil if it could not be opened
	// mounted says who holds the volume when this session reads beside
	// a mount ("" otherwise).
	mounted string
	synced  bool // the command brought the mirrors in sync itself
	report  bool // the command reports on the mirrors: it mends none of them on its way out
}

// close delivers what waits for the mirrors, says what is not yet safe,
// and unlocks the volume.
func (s *session) close() {
	defer s.lock.Close()
	// A failure loses nothing: the state is derived from the mirrors.
	defer s.vol.SaveState()
	if s.cache != nil {
		defer s.cache.Wait() // what a read put in the cache is there for the next command
	}
	if s.set == nil || s.synced {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 60*time.Second)
	defer cancel()
	if len(s.set.Queued()) > 0 {
		s.set.DrainReachable(ctx, nil)
	}
	// Catch up what a mirror was found lacking this session, when it is
	// little: a mirror missed another PC's write while it was away.
	// Larger gaps are 'dvpc mirror sync's to fill, with progress.
	if !s.report {
		s.set.CatchUp(ctx, 200)
	}
	reportUnsafe(s.env, s.set, s.cfg)
}

// unsafeChanges counts the journal segments of the login's volume that
// are on this PC and fewer mirrors than the quorum: changes not yet safe.
func unsafeChanges(set *replica.Set, c *clientConfig) int {
	return len(set.Unsafe("volumes/" + c.Volume + "/journal/"))
}

// reportUnsafe tells the user about changes kept on this PC only, and
// mirrors that wait for objects.
func reportUnsafe(env *Env, set *replica.Set, c *clientConfig) {
	if unsafe := unsafeChanges(set, c); unsafe > 0 {
		why := ""
		for id, err := range set.WriteErrors() {
			for _, m := range c.mirrors() {
				if m.ID == id {
					why = " (" + m.Endpoints[0] + ": " + message(err) + ")"
				}
			}
		}
		fmt.Fprintf(env.Stderr, "dvpc: %d journal segments of changes are kept on this PC only, not yet safe on %d mirrors%s: they will be sent when the mirrors take them ('dvpc status' shows them, 'dvpc mirror sync' sends them now)\n", unsafe, set.Quorum(), why)
		return
	}
	for id, n := range set.Queued() {
		for _, m := range c.mirrors() {
			if m.ID == id && !m.Removable {
				fmt.Fprintf(env.Stderr, "dvpc: %d objects wait for the mirror %s, which could not be reached; your changes are safe on the others\n", n, m.Endpoints[0])
			}
		}
	}
}

// open opens the logged-in volume and brings it up to date with the
// mirrors. With none reachable it works from what this PC knows: reading
// what is not on this PC fails with a clear error, and writes wait in the
// outbox.
func open(ctx context.Context, env *Env, offline bool) (*session, error) {
	return openMode(ctx, env, offline, false)
}

// openReader opens the volume for a command that only reads. While a
// mount holds the volume it reads beside it: without the lock, writing
// nothing on this PC, and seeing what the mount has sent to the mirrors.
func openReader(ctx context.Context, env *Env, offline bool) (*session, error) {
	return openMode(ctx, env, offline, true)
}

// stateSaveEvery is how often a command writes the local state while it
// works (a mount, an import); it writes it once more when it ends.
const stateSaveEvery = 30 * time.Second

func openMode(ctx context.Context, env *Env, offline, reader bool) (*session, error) {
	if env.BeforeOpen != nil {
		env.BeforeOpen()
	}
	c, err := loadConfig(env)
	if err != nil {
		return nil, err
	}
	volID, err := dvpc.ParseVolumeID(c.Volume)
	if err != nil {
		return nil, errors.E(errors.Corrupt, configPath(env), err)
	}
	devID, err := dvpc.ParseDeviceID(c.Device)
	if err != nil {
		return nil, errors.E(errors.Corrupt, configPath(env), err)
	}
	sd := stateDir(env, c.Volume)
	lock, mounted, err := lockDir(sd, reader)
	if err != nil {
		return nil, err
	}
	beside := lock == nil
	// The cache is opened (its folder read) while the volume opens.
	type openedCache struct {
		c   *cache.Cache
		err error
	}
	cacheCh := make(chan openedCache, 1)
	go func() {
		cc, err := openCache(env, c)
		cacheCh <- openedCache{cc, err}
	}()
	set, stores, err := openSetWith(ctx, env, c, filepath.Join(sd, "outbox"), beside)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if !beside {
		// What waited for a mirror since removed from the set waits no
		// more: the others hold it.
		set.DropStrays(ctx)
	}
	cfg := &volume.Config{ID: volID, Name: c.VolumeName, Chunk: c.Chunk, Created: c.Created, Account: c.AccountKey}
	me := volume.Identity{ID: devID, Name: c.DeviceName, Key: ed25519.NewKeyFromSeed(c.DeviceKey)}
	// The local state is written when the command ends, and at most every
	// 30 s before: writing it encodes all of it, which on a volume of a
	// million files takes seconds (the sync of an open would write it,
	// and an import or a mount would at each commit). What is not written
	// is on the mirrors or in the outbox, and read again from there.
	opts := volume.Options{StateDir: sd, Now: env.Now, Offline: offline, NoSave: beside, SaveEvery: stateSaveEvery}
	v, err := volume.Open(ctx, set, cfg, keys.Key(c.VolumeKey), me, opts)
	if errors.Is(err, errors.Unavailable) && !offline && remote.Code(err) != remote.CodeRateLimited {
		// No mirror could be reached while syncing.
		fmt.Fprintf(env.Stderr, "dvpc: the mirrors are not reachable (%s); working from what this PC knows\n", message(err))
		opts.Offline = true
		v, err = volume.Open(ctx, set, cfg, keys.Key(c.VolumeKey), me, opts)
	} else if errors.Is(err, errors.Corrupt) && !offline && len(c.mirrors()) > 1 && !allReachable(ctx, set) {
		// What the mirrors in reach hold contradicts what this PC read
		// before (one is behind, wiped, or rolled back): the others may
		// hold what is missing, so this is no proof of damage yet.
		fmt.Fprintf(env.Stderr, "dvpc: warning: %s; some mirrors are out of reach: working from what this PC knows until they are back\n", message(err))
		opts.Offline = true
		v, err = volume.Open(ctx, set, cfg, keys.Key(c.VolumeKey), me, opts)
	}
	if err != nil {
		lock.Close()
		return nil, serverError(err, c.Mirror, c.User)
	}
	for _, err := range v.Refused() {
		fmt.Fprintf(env.Stderr, "dvpc: ignoring %s: someone who holds a volume key (a stolen PC?) planted it; revoke that device, then remove it with 'dvpc check --remove-forged'\n", message(err))
	}
	s := &session{ctx: ctx, env: env, set: set, stores: stores, cfg: c, vol: v, lock: lock, mounted: mounted}
	if oc := <-cacheCh; oc.err == nil {
		s.cache = oc.c
		v.SetCache(oc.c)
	} else {
		fmt.Fprintf(env.Stderr, "dvpc: warning: working without this PC's cache: %s\n", message(oc.err))
	}
	if beside {
		s.synced = true // the mount delivers what waits
		return s, nil
	}
	if !opts.Offline {
		s.learn(ctx)
	}
	s.takeUpStage()
	return s, nil
}

// stageDir is where a mount keeps its stage: changes made in the mount,
// not yet on the mirrors.
func (s *session) stageDir() string { return filepath.Join(stateDir(s.env, s.cfg.Volume), "stage") }

// takeUpStage commits what a mount that ended without its flush (killed,
// or the PC stopped) left in its stage, so that every command sees it.
// What cannot be committed now stays in the stage, in the tree, and open
// in s.stage; the next command tries again.
func (s *session) takeUpStage() {
	es, err := os.ReadDir(s.stageDir())
	if err != nil || len(es) == 0 {
		return
	}
	st, err := s.vol.OpenStage(s.stageDir())
	if err != nil {
		fmt.Fprintf(s.env.Stderr, "dvpc: warning: cannot read the changes a mount left on this PC: %s\n", message(err))
		return
	}
	if err := st.Flush(s.ctx); err != nil {
		fmt.Fprintf(s.env.Stderr, "dvpc: changes made in a mount are kept on this PC and cannot go to the mirrors yet: %s\n", message(err))
		s.stage = st
		return
	}
	st.Close(s.ctx)
}

// allReachable reports whether every mirror of the set answers now.
func allReachable(ctx context.Context, set *replica.Set) bool {
	for _, st := range set.Status(ctx, "account") {
		if !st.Reachable {
			return false
		}
	}
	return true
}

// learn reads the volume's mirror set and, when another PC changed it,
// saves it in the login; the next command uses it. It warns of a mirror
// that lacks journal segments another holds: behind, or withholding them.
func (s *session) learn(ctx context.Context) {
	if ms, err := s.vol.MirrorsAfter(ctx, s.cfg.MirrorsVersion); err == nil && learnMirrors(s.cfg, ms) {
		if err := saveConfig(s.env, s.cfg); err == nil {
			for _, m := range s.cfg.mirrors() {
				if kindOf(m.Endpoints[0]) == "http" && m.Token == "" {
					fmt.Fprintf(s.env.Stderr, "dvpc: the volume has a new mirror %s: run 'dvpc mirror login %s' to use it from this PC\n", m.Endpoints[0], m.Endpoints[0])
				}
			}
		}
	}
	for _, m := range s.cfg.mirrors() {
		if n := len(s.set.Lacking(m.ID, "volumes/"+s.cfg.Volume+"/journal/")); n > 0 {
			fmt.Fprintf(s.env.Stderr, "dvpc: warning: the mirror %s lacks %d journal segments that another mirror holds: it is behind, lost them, or withholds them; 'dvpc mirror sync' copies them to it\n", m.Endpoints[0], n)
		}
	}
}

// lockDir takes an exclusive lock on the state folder, so two dvpc
// processes of one device never write its journal at once.
//
// A reader that finds a mount holding it gets no lock and the mount's
// description: it may read beside the mount.
func lockDir(dir string, reader bool) (*os.File, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", errors.E(errors.IO, dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, "", errors.E(errors.IO, dir, err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		// Another dvpc holds it: a command, which ends soon, or a mount,
		// which says so in the lock file.
		if holder, ok := strings.CutPrefix(lockHolder(f), "mount "); ok {
			f.Close()
			holder = strings.TrimSpace(holder)
			if reader {
				return nil, holder, nil
			}
			return nil, "", errors.E(errors.Conflict, errors.Str(fmt.Sprintf(
				"the volume is mounted %s: make changes in the mount, or 'dvpc unmount' it first", holder)))
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		f.Close()
		return nil, "", errors.E(errors.IO, dir, err)
	}
	f.Truncate(0)
	return f, "", nil
}

// holdLock writes into the lock file who holds it, for the commands that
// find it taken.
func holdLock(f *os.File, who string) {
	f.Truncate(0)
	f.WriteAt([]byte(who+"\n"), 0)
}

// lockHolder reads who holds the lock file f (holdLock).
func lockHolder(f *os.File) string {
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, 0)
	return string(b[:n])
}

// mountHolder is what a mount at dir writes into the lock it holds; the
// pid follows. It names dir by realDir, so that an unmount that names the
// folder through a link finds the mount.
func mountHolder(dir string) string { return "mount at " + realDir(dir) + " (pid " }

// realDir is dir, absolute, with the links in the folders above it
// resolved. dir itself is not looked at: a mount point whose process has
// hung would hang whatever asks it.
func realDir(dir string) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if parent, err := filepath.EvalSymlinks(filepath.Dir(dir)); err == nil {
		return filepath.Join(parent, filepath.Base(dir))
	}
	return dir
}

// passphrase reads the passphrase from DVPC_PASSPHRASE, --passphrase-file,
// or the terminal (twice, when confirm is set).
func passphrase(env *Env, a *args, confirm bool) ([]byte, error) {
	return readSecret(env, a, "passphrase", confirm)
}

// readSecret reads a passphrase of the given name ("passphrase", or "new
// passphrase") from the flag --NAME-file, the variable DVPC_NAME, or the
// terminal (twice, when confirm is set).
func readSecret(env *Env, a *args, name string, confirm bool) ([]byte, error) {
	flag := strings.ReplaceAll(name, " ", "-") + "-file"
	variable := "DVPC_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
	if f := a.flag(flag); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, errors.E(errors.NotExist, f, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, errors.E(errors.Invalid, f, errors.Str("the passphrase file is empty"))
		}
		return b, nil
	}
	if p := env.Getenv(variable); p != "" {
		return []byte(p), nil
	}
	in, ok := env.Stdin.(*os.File)
	if !ok || !isTerm(in) {
		return nil, errors.E(errors.Invalid, errors.Str("no "+name+": set "+variable+", pass --"+flag+" FILE, or run on a terminal"))
	}
	fmt.Fprintf(env.Stderr, "%s%s: ", strings.ToUpper(name[:1]), name[1:])
	p, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(env.Stderr)
	if err != nil {
		return nil, errors.E(errors.IO, err)
	}
	if confirm {
		fmt.Fprint(env.Stderr, "Again: ")
		q, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return nil, errors.E(errors.IO, err)
		}
		if !bytes.Equal(p, q) {
			return nil, errors.E(errors.Invalid, errors.Str("the two passphrases differ"))
		}
	}
	if len(p) == 0 {
		return nil, errors.E(errors.Invalid, errors.Str("empty passphrase"))
	}
	return p, nil
}

// kdfParams are the Argon2id parameters for a new account; tests may make
// them cheap with DVPC_TEST_CHEAP_KDF=1.
func kdfParams(env *Env) keys.Params {
	if env.Getenv("DVPC_TEST_CHEAP_KDF") == "1" {
		return keys.TestParams()
	}
	return keys.DefaultParams()
}

func deviceName(a *args) string {
	if n := a.flag("device"); n != "" {
		return n
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "pc"
	}
	return strings.SplitN(h, ".", 2)[0]
}

func isTerm(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
