package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/mount"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/volume"
)

// runMount mounts the logged-in volume at DIR, in the foreground, until it
// is unmounted or the command is interrupted.
func runMount(ctx context.Context, env *Env, a *args) error {
	debug := a.bool("debug")
	offline := a.bool("offline")
	cacheSize, err := sizeFlag(a, "cache-size")
	if err != nil {
		return err
	}
	if err := a.check(1, 2); err != nil {
		return err
	}
	dir, err := filepath.Abs(a.arg(len(a.pos)-1, ""))
	if err != nil {
		return errors.E(errors.Invalid, err)
	}
	c, err := loadConfig(env)
	if err != nil {
		return err
	}
	if len(a.pos) == 2 && a.arg(0, "") != c.VolumeName && a.arg(0, "") != c.Volume {
		return errors.E(errors.NotExist, a.arg(0, ""), errors.Str(fmt.Sprintf(
			"this PC is logged in to the volume %q: 'dvpc volumes use %s' switches to it first", c.VolumeName, a.arg(0, ""))))
	}
	if cacheSize > 0 && cacheSize != c.CacheSize {
		c.CacheSize = cacheSize // kept for the next mounts and commands
		if err := saveConfig(env, c); err != nil {
			return err
		}
	}
	return mountVolume(ctx, env, c, dir, mountOptions{offline: offline, debug: debug, ready: func() {
		fmt.Fprintf(env.Stdout, "Mounted volume %q at %s; %s/%s/at/TIME is the volume as it was at TIME (RFC 3339). 'dvpc unmount %s' or Ctrl-C ends it.\n",
			c.VolumeName, dir, dir, mount.Control, dir)
	}})
}

// mountOptions are how mountVolume mounts.
type mountOptions struct {
	offline bool   // start from what this PC knows, without asking the mirrors
	debug   bool   // log every FUSE request
	create  bool   // make the mount point if it is missing
	ready   func() // says that the mount is up
}

// mountVolume shows the volume of the login c at dir and serves it until
// it is unmounted or ctx ends; then what was written in it goes to the
// mirrors before it returns. 'dvpc mount' and 'dvpc up' run it.
func mountVolume(ctx context.Context, env *Env, c *clientConfig, dir string, o mountOptions) error {
	stale := clearStale(dir)
	created, err := mountPoint(dir, o.create)
	if err != nil {
		return err
	}
	s, err := open(ctx, env, o.offline)
	if err != nil {
		if created {
			os.Remove(dir)
		}
		return err
	}
	// The mount writes this device's journal: it holds the volume's lock
	// while it runs, and says so to the commands that find it taken.
	defer s.close()
	holdLock(s.lock, fmt.Sprintf("%s%d)", mountHolder(dir), os.Getpid()))
	st := s.stage
	if st == nil {
		if st, err = s.vol.OpenStage(s.stageDir()); err != nil {
			return err
		}
	}
	work := filepath.Join(stateDir(env, c.Volume), "work")
	os.RemoveAll(work) // spill files of a mount that died
	if err := os.MkdirAll(work, 0o700); err != nil {
		return errors.E(errors.IO, work, err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s.vol.SetCachePromotion(true)
	srv, err := mount.Mount(dir, s.vol, mount.Options{Log: log, Debug: o.debug, Stage: st, Work: work})
	if err != nil {
		st.Close(ctx)
		if created {
			os.Remove(dir)
		}
		return errors.E(errors.IO, dir, errors.Str("cannot mount here: "+err.Error()+
			" (is FUSE available: /dev/fuse, and fusermount3 when not root?)"))
	}
	if stale {
		settle(dir)
	}
	o.ready()
	done := make(chan struct{})
	keep := func() {
		// The chunks of pinned files stay in the cache; 'dvpc pin' may
		// change the pins meanwhile, from another process.
		pins, err := s.vol.Pins()
		if err != nil || s.cache == nil {
			return
		}
		srv.WithTree(func(t *volume.Tree) {
			_, chunks := volume.Pinned(t, pins)
			s.cache.Keep(func(id dvpc.ChunkID) bool { return chunks[id] })
		})
	}
	keep()
	var draining atomic.Bool
	var drains sync.WaitGroup // the session's close drains too: not at once
	defer drains.Wait()
	after := func() {
		keep()
		// What waits in the outbox (written while mirrors were away) goes
		// out by itself once they are back, oldest first, beside the
		// refreshes.
		if len(s.set.Queued()) > 0 && draining.CompareAndSwap(false, true) {
			drains.Add(1)
			go func() {
				defer drains.Done()
				defer draining.Store(false)
				s.set.DrainReachable(ctx, nil)
			}()
		}
	}
	go follow(ctx, done, srv, c, log, after)
	go func() {
		select {
		case <-ctx.Done():
			if err := srv.Unmount(); err != nil {
				// Files open in it keep it busy: detach it, the kernel
				// ends it once they are closed.
				detach(dir)
			}
		case <-done:
		}
	}()
	srv.Wait()
	close(done)
	// What the mount wrote goes to the mirrors now; what they do not take
	// stays on this PC, and the next command or mount sends it.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	if err := srv.Close(fctx); err != nil {
		fmt.Fprintf(env.Stderr, "dvpc: the changes made in the mount are kept on this PC until the mirrors take them: %s\n", message(err))
	}
	st.Close(fctx)
	return nil
}

// mountPoint checks that dir is a folder to mount on; with create, it
// makes it if it is missing, and reports that it did.
func mountPoint(dir string, create bool) (created bool, err error) {
	fi, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err) && create:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return false, errors.E(errors.IO, dir, err)
		}
		return true, nil
	case os.IsNotExist(err):
		return false, errors.E(errors.NotExist, dir, errors.Str("the mount point does not exist: make the folder first"))
	case err != nil:
		return false, errors.E(errors.IO, dir, err)
	case !fi.IsDir():
		return false, errors.E(errors.NotDir, dir, errors.Str("the mount point is not a folder"))
	}
	return false, nil
}

// clearStale unmounts dir if it is a mount whose process died: its
// folder then answers "transport endpoint is not connected". It reports
// whether it found one.
func clearStale(dir string) bool {
	// statfs always asks the file system's process; a stat may be
	// answered from the kernel's cache for a second after it died.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != syscall.ENOTCONN {
		return false
	}
	// A plain unmount first; a lazy one if files are still open in it.
	if syscall.Unmount(dir, 0) == nil {
		return true
	}
	if detach(dir) != nil {
		exec.Command("fusermount3", "-u", "-z", dir).Run()
		exec.Command("fusermount", "-u", "-z", dir).Run()
	}
	return true
}

// settle waits, up to 3 s, until dir answers: for about a second after a
// dead mount is replaced, the kernel still answers for the old one.
func settle(dir string) {
	var st syscall.Stat_t
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Stat(filepath.Join(dir, mount.Control), &st); err == nil {
			if err := syscall.Stat(dir, &st); err == nil {
				return
			}
		}
	}
}

// runUnmount ends a mount.
func runUnmount(ctx context.Context, env *Env, a *args) error {
	if err := a.check(1, 1); err != nil {
		return err
	}
	dir, err := filepath.Abs(a.arg(0, ""))
	if err != nil {
		return errors.E(errors.Invalid, err)
	}
	lock := mountLock(env, dir)
	if lock != nil {
		defer lock.Close()
	}
	err = syscall.Unmount(dir, 0)
	if err == syscall.EPERM {
		for _, tool := range []string{"fusermount3", "fusermount"} {
			if out, ferr := exec.Command(tool, "-u", dir).CombinedOutput(); ferr == nil {
				err = nil
				break
			} else if _, lerr := exec.LookPath(tool); lerr == nil {
				return errors.E(errors.Permission, dir, errors.Str(string(out)))
			}
		}
	}
	switch err {
	case nil:
		if lock != nil {
			waitMountEnd(ctx, env, lock, dir)
		}
		return nil
	case syscall.EINVAL:
		return errors.E(errors.Invalid, dir, errors.Str("nothing is mounted here"))
	case syscall.EBUSY:
		return errors.E(errors.Conflict, dir, errors.Str("files are open in the mount: close them (or the programs using them) and run this again"))
	case syscall.ENOENT:
		return errors.E(errors.NotExist, dir, errors.Str("no such folder"))
	}
	return errors.E(errors.IO, dir, err)
}

// mountLock opens the lock of this PC's volume if a mount at dir holds
// it, for unmount to wait on; otherwise (another login's mount, or none)
// it returns nil.
func mountLock(env *Env, dir string) *os.File {
	c, err := readConfig(env)
	if err != nil {
		return nil
	}
	f, err := os.Open(filepath.Join(stateDir(env, c.Volume), "lock"))
	if err != nil {
		return nil
	}
	if !strings.HasPrefix(lockHolder(f), mountHolder(dir)) ||
		unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) == nil {
		f.Close()
		return nil
	}
	return f
}

// unmountWait is how long unmount waits for the mount to end: its last
// flush to the mirrors may take a minute (mountVolume), then it writes
// the local state.
const unmountWait = 2 * time.Minute

// waitMountEnd waits until the mount that held lock has ended: sent what
// was written in it to the mirrors (or kept it for later) and written
// the local state. A command run after unmount then finds the volume
// free, and nothing writes under the user's folders any more.
func waitMountEnd(ctx context.Context, env *Env, lock *os.File, dir string) {
	ended := make(chan struct{})
	go func() {
		unix.Flock(int(lock.Fd()), unix.LOCK_SH) // the mount's lock is exclusive
		close(ended)
	}()
	say := time.NewTimer(time.Second)
	defer say.Stop()
	limit := time.NewTimer(unmountWait)
	defer limit.Stop()
	for {
		select {
		case <-ended:
			return
		case <-say.C:
			if env.IsTerminal != nil && env.IsTerminal(env.Stderr) {
				fmt.Fprintf(env.Stderr, "dvpc: unmounted; the mount is sending what was written in it to the mirrors (Ctrl-C leaves it to finish by itself)\n")
			}
		case <-limit.C:
			fmt.Fprintf(env.Stderr, "dvpc: unmounted %s, but its process has not ended after %s; it goes on by itself (see 'dvpc status')\n", dir, unmountWait)
			return
		case <-ctx.Done():
			return
		}
	}
}

// refreshEvery is how often a mount reads what is new on the mirrors when
// no server tells it sooner.
const refreshEvery = 2 * time.Second

// follow keeps the mount up to date until done: every refreshEvery, and
// at once when a server of the set says another device wrote to the
// volume's journal.
func follow(ctx context.Context, done <-chan struct{}, m *mount.Mounted, c *clientConfig, log *slog.Logger, after func()) {
	kick := make(chan struct{}, 1)
	for _, cm := range c.mirrors() {
		if kindOf(cm.Endpoints[0]) != "http" || cm.Token == "" {
			continue
		}
		cl, err := remote.New(cm.Endpoints[0], remote.Options{Token: cm.Token, Fingerprint: cm.Fingerprint,
			AllowPlainHTTP: cm.InsecureHTTP, UserAgent: "dvpc/" + Version, FailFast: true})
		if err != nil {
			continue
		}
		go watch(ctx, done, cl, "volumes/"+c.Volume+"/journal/", kick)
		break // one server's word is enough
	}
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		err := m.Refresh(ctx)
		after()
		switch {
		case err != nil && !failing:
			log.Warn("dvpc mount: cannot read what is new on the mirrors; showing what this PC knows", "err", message(err))
		case err == nil && failing:
			log.Info("dvpc mount: the mirrors are back; showing what is new")
		}
		failing = err != nil
	}
}

// watch long-polls a server for new journal segments and kicks the
// refresh when some arrive.
func watch(ctx context.Context, done <-chan struct{}, cl *remote.Client, prefix string, kick chan<- struct{}) {
	cursor := ""
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		default:
		}
		ch, err := cl.Watch(ctx, prefix, cursor, 25*time.Second)
		if err != nil {
			// Out of reach: the periodic refresh goes on; try again later.
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-time.After(refreshEvery):
			}
			continue
		}
		if cursor != "" && (len(ch.Names) > 0 || ch.Reset) {
			select {
			case kick <- struct{}{}:
			default:
			}
		}
		cursor = ch.Cursor
	}
}
