package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/totp"
	"github.com/dvpc/dvpc/internal/volume"
)

// DeleteGrace is how long a deleted volume's data stays on the mirrors
// before a server destroys it; 'dvpc volumes undelete' cancels until then.
const DeleteGrace = 7 * 24 * time.Hour

// deletedObject marks a volume as deleted, under its prefix; its body is
// the time of deletion, RFC 3339.
const deletedObject = "deleted"

func deletedName(id dvpc.VolumeID) string { return "volumes/" + id.String() + "/" + deletedObject }

// deletedAt returns when a volume was deleted, or the zero time.
func deletedAt(ctx context.Context, root blob.Store, id dvpc.VolumeID) (time.Time, error) {
	b, err := root.Get(ctx, deletedName(id), 0, 64)
	if errors.Is(err, errors.NotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Unix(0, 0), nil // a mark that does not parse still marks
	}
	return t, nil
}

// liveVolumes lists the account's volumes that are not deleted.
func liveVolumes(ctx context.Context, root blob.Store, master keys.Key) ([]*volume.Config, []keys.Key, error) {
	cfgs, vks, err := volume.Volumes(ctx, root, master)
	if err != nil {
		return nil, nil, err
	}
	var live []*volume.Config
	var lk []keys.Key
	for i, c := range cfgs {
		t, err := deletedAt(ctx, root, c.ID)
		if err != nil {
			return nil, nil, err
		}
		if t.IsZero() {
			live, lk = append(live, c), append(lk, vks[i])
		}
	}
	return live, lk, nil
}

// runVolumes lists, creates, renames, deletes and switches volumes.
func runVolumes(ctx context.Context, env *Env, a *args) error {
	sub := a.arg(0, "list")
	_ = a.flag("key-file")
	n := map[string]int{"list": 1, "create": 2, "rename": 3, "delete": 2, "undelete": 2, "use": 2}[sub]
	if n == 0 {
		return usagef("unknown volumes command %q", sub)
	}
	if err := a.check(min(n, len(a.pos)), n); err != nil {
		return err
	}
	if len(a.pos) < n && sub != "list" {
		return usagef("wrong number of arguments")
	}
	c, root, err := loggedInMirror(env)
	if err != nil {
		return err
	}
	_, master, _, err := unlockAccount(ctx, env, a, root)
	if err != nil {
		return err
	}
	cfgs, vks, err := volume.Volumes(ctx, root, master)
	if err != nil {
		return err
	}
	find := func(name string) (int, error) {
		for i, cfg := range cfgs {
			if cfg.Name == name || cfg.ID.String() == name {
				return i, nil
			}
		}
		return -1, errors.E(errors.NotExist, name, errors.Str("no such volume ('dvpc volumes' lists them)"))
	}
	switch sub {
	case "list":
		type volJSON struct {
			Name    string     `json:"name"`
			ID      string     `json:"id"`
			Created time.Time  `json:"created"`
			Current bool       `json:"current"`
			Deleted *time.Time `json:"deleted,omitempty"`
		}
		var out []volJSON
		for _, cfg := range cfgs {
			v := volJSON{Name: cfg.Name, ID: cfg.ID.String(), Created: cfg.Created, Current: cfg.ID.String() == c.Volume}
			if t, err := deletedAt(ctx, root, cfg.ID); err != nil {
				return err
			} else if !t.IsZero() {
				v.Deleted = &t
			}
			out = append(out, v)
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		if a.bool("json") {
			return json.NewEncoder(env.Stdout).Encode(out)
		}
		for _, v := range out {
			mark := " "
			if v.Current {
				mark = "*"
			}
			note := ""
			if v.Deleted != nil {
				note = fmt.Sprintf("  (deleted %s; destroyed after %s unless undeleted)", v.Deleted.Local().Format("2006-01-02 15:04"), v.Deleted.Add(DeleteGrace).Local().Format("2006-01-02 15:04"))
			}
			fmt.Fprintf(env.Stdout, "%s %-20s %s  created %s%s\n", mark, v.Name, v.ID[:8], v.Created.Local().Format("2006-01-02 15:04"), note)
		}
		return nil
	case "create":
		name := a.arg(1, "")
		if _, err := find(name); err == nil {
			return errors.E(errors.Exist, name, errors.Str("a volume of that name exists"))
		}
		cfg, vk, err := volume.CreateVolume(ctx, root, master, name, chunk.DefaultParams(), env.Now())
		if err != nil {
			return err
		}
		if err := volume.Register(ctx, root, cfg, vk, configIdentity(c), env.Now()); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Created volume %q; 'dvpc volumes use %s' switches this PC to it.\n", name, name)
		return nil
	case "rename":
		i, err := find(a.arg(1, ""))
		if err != nil {
			return err
		}
		to := a.arg(2, "")
		if _, err := find(to); err == nil {
			return errors.E(errors.Exist, to, errors.Str("a volume of that name exists"))
		}
		cfg := *cfgs[i]
		cfg.Name = to
		if err := volume.WriteConfig(ctx, root, &cfg, vks[i]); err != nil {
			return err
		}
		if c.Volume == cfg.ID.String() {
			c.VolumeName = to
			if err := saveConfig(env, c); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stdout, "Renamed volume %q to %q.\n", cfgs[i].Name, to)
		return nil
	case "delete":
		i, err := find(a.arg(1, ""))
		if err != nil {
			return err
		}
		now := env.Now().UTC()
		if err := root.Put(ctx, deletedName(cfgs[i].ID), []byte(now.Format(time.RFC3339Nano))); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Deleted volume %q. Its data stays on the mirrors until %s; 'dvpc volumes undelete %s' brings it back until then.\n",
			cfgs[i].Name, now.Add(DeleteGrace).Local().Format("2006-01-02 15:04"), cfgs[i].Name)
		return nil
	case "undelete":
		i, err := find(a.arg(1, ""))
		if err != nil {
			return err
		}
		if err := root.Delete(ctx, deletedName(cfgs[i].ID)); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Volume %q is back.\n", cfgs[i].Name)
		return nil
	case "use":
		i, err := find(a.arg(1, ""))
		if err != nil {
			return err
		}
		if t, err := deletedAt(ctx, root, cfgs[i].ID); err != nil {
			return err
		} else if !t.IsZero() {
			return errors.E(errors.NotExist, cfgs[i].Name, errors.Str("the volume is deleted: 'dvpc volumes undelete' it first"))
		}
		id := configIdentity(c)
		if err := registerDevice(ctx, env, root, c, cfgs[i], vks[i], id, nil); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "This PC now uses volume %q.\n", cfgs[i].Name)
		return nil
	}
	return nil
}

// configIdentity is this PC's device identity, from its login.
func configIdentity(c *clientConfig) volume.Identity {
	id, _ := dvpc.ParseDeviceID(c.Device)
	return volume.Identity{ID: id, Name: c.DeviceName, Key: deviceKey(c)}
}

// runDevices lists the account's devices, or revokes one.
func runDevices(ctx context.Context, env *Env, a *args) error {
	sub := a.arg(0, "list")
	switch {
	case sub == "list" && len(a.pos) <= 1:
		if err := a.check(0, 1); err != nil {
			return err
		}
		return listDevices(ctx, env, a)
	case sub == "revoke":
		a.accept("key-file")
		if err := a.check(2, 2); err != nil {
			return err
		}
		return revokeDevice(ctx, env, a, a.arg(1, ""))
	}
	return usagef("unknown devices command %q", sub)
}

type deviceJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Created  time.Time  `json:"created"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	Revoked  *time.Time `json:"revoked,omitempty"`
	Current  bool       `json:"current"`
}

func listDevices(ctx context.Context, env *Env, a *args) error {
	c, err := loadConfig(env)
	if err != nil {
		return err
	}
	var out []deviceJSON
	if isURL(c.Mirror) {
		cl, err := configClient(c)
		if err != nil {
			return err
		}
		ds, err := cl.Devices(ctx)
		if err != nil {
			return serverError(err, c.Mirror, c.User)
		}
		for _, d := range ds {
			seen := d.LastSeen
			out = append(out, deviceJSON{ID: d.ID, Name: d.Name, Created: d.Created, LastSeen: &seen, Revoked: d.Revoked, Current: d.Current || d.ID == c.Device})
		}
	} else {
		s, err := open(ctx, env, a.bool("offline"))
		if err != nil {
			return err
		}
		defer s.close()
		for _, d := range s.vol.Devices() {
			j := deviceJSON{ID: d.ID.String(), Name: d.Name, Created: d.Created, Current: d.ID.String() == c.Device}
			if r := s.vol.Revoked(d.ID); r != nil {
				t := r.Time
				j.Revoked = &t
			}
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	if a.bool("json") {
		return json.NewEncoder(env.Stdout).Encode(out)
	}
	for _, d := range out {
		mark := " "
		if d.Current {
			mark = "*"
		}
		line := fmt.Sprintf("%s %-16s %s  first seen %s", mark, d.Name, d.ID[:8], d.Created.Local().Format("2006-01-02 15:04"))
		if d.LastSeen != nil && !d.LastSeen.IsZero() {
			line += ", last seen " + d.LastSeen.Local().Format("2006-01-02 15:04")
		}
		if d.Revoked != nil {
			line += ", REVOKED " + d.Revoked.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintln(env.Stdout, line)
	}
	return nil
}

// revokeDevice revokes a device by name or id: on a server its token
// first, so it can write nothing more; then in the volume, so that no
// device accepts a later journal segment it signs; then it rotates the
// volume's keys, so that what is written from now on is sealed under a key
// generation the revoked device never receives. The rotation needs the
// passphrase (the new key is wrapped under the master key for later
// logins), asked for first so that nothing is half done.
func revokeDevice(ctx context.Context, env *Env, a *args, which string) error {
	c, err := loadConfig(env)
	if err != nil {
		return err
	}
	if which == c.Device || which == c.DeviceName {
		return errors.E(errors.Invalid, which, errors.Str("that is this PC: revoke it from another device ('dvpc logout' ends this login)"))
	}
	_, root, err := loggedInMirror(env)
	if err != nil {
		return err
	}
	_, master, _, err := unlockAccount(ctx, env, a, root)
	if err != nil {
		return err
	}
	var devID string
	if isURL(c.Mirror) {
		cl, err := configClient(c)
		if err != nil {
			return err
		}
		ds, err := cl.Devices(ctx)
		if err != nil {
			return serverError(err, c.Mirror, c.User)
		}
		var match []remote.Device
		for _, d := range ds {
			if d.ID == which || d.Name == which || strings.HasPrefix(d.ID, which) && len(which) >= 8 {
				match = append(match, d)
			}
		}
		if len(match) == 0 {
			return errors.E(errors.NotExist, which, errors.Str("no such device ('dvpc devices' lists them)"))
		}
		if len(match) > 1 {
			return errors.E(errors.Invalid, which, errors.Str("several devices have that name: give the id that 'dvpc devices' shows"))
		}
		devID = match[0].ID
		if err := cl.Revoke(ctx, devID); err != nil {
			return serverError(err, c.Mirror, c.User)
		}
	}
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	if devID == "" {
		for _, d := range s.vol.Devices() {
			if d.ID.String() == which || d.Name == which {
				if devID != "" {
					return errors.E(errors.Invalid, which, errors.Str("several devices have that name: give the id that 'dvpc devices' shows"))
				}
				devID = d.ID.String()
			}
		}
		if devID == "" {
			return errors.E(errors.NotExist, which, errors.Str("no such device ('dvpc devices' lists them)"))
		}
	}
	id, err := dvpc.ParseDeviceID(devID)
	if err != nil {
		return errors.E(errors.Corrupt, devID, err)
	}
	// Its tokens on the set's other servers stop working too.
	for _, m := range c.mirrors() {
		if kindOf(m.Endpoints[0]) != "http" || m.Token == "" || normLocation(m.Endpoints[0]) == normLocation(c.Mirror) {
			continue
		}
		cl, err := remote.New(m.Endpoints[0], remote.Options{Token: m.Token, Fingerprint: m.Fingerprint, AllowPlainHTTP: m.InsecureHTTP, UserAgent: "dvpc/" + Version})
		if err == nil {
			err = cl.Revoke(ctx, devID)
		}
		if err != nil && !errors.Is(err, errors.NotExist) {
			fmt.Fprintf(env.Stderr, "dvpc: could not revoke the device's token on the mirror %s (%s): run 'dvpc devices revoke %s' again when it can be reached\n", m.Endpoints[0], message(err), which)
		}
	}
	r, err := s.vol.Revoke(ctx, id)
	if errors.Is(err, errors.NotExist) {
		// The device never wrote to this volume: its token is gone, which
		// is all there is to revoke.
		fmt.Fprintf(env.Stdout, "Revoked device %s.\n", which)
		return nil
	}
	if err != nil {
		return err
	}
	if r.Seq == 0 {
		fmt.Fprintf(env.Stdout, "Revoked device %s: it had written nothing to this volume, and nothing it signs from now on is accepted.\n", which)
	} else {
		fmt.Fprintf(env.Stdout, "Revoked device %s: its journal ends at segment %d; nothing it signs later is accepted.\n", which, r.Seq)
	}
	rot, err := s.vol.Rotate(ctx, master)
	if err != nil {
		return errors.E(errors.Str("the device is revoked, but rotating the volume's keys failed (run 'dvpc devices revoke "+which+"' again)"), err)
	}
	var names []string
	for _, d := range rot.Shared {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	fmt.Fprintf(env.Stdout, "Rotated the volume's keys to generation %d: new data is sealed under a key that %s does not have; shared with %d device(s): %s.\n",
		rot.Gen, which, len(names), strings.Join(names, ", "))
	return nil
}

// runTOTP turns TOTP at the server on or off.
func runTOTP(ctx context.Context, env *Env, a *args) error {
	sub := a.arg(0, "")
	code := a.flag("otp")
	if err := a.check(1, 1); err != nil {
		return err
	}
	c, err := loadConfig(env)
	if err != nil {
		return err
	}
	cl, err := configClient(c)
	if err != nil {
		return errors.E(errors.Invalid, errors.Str("TOTP is a server's login step: this PC is logged in to a folder mirror"))
	}
	switch sub {
	case "enable":
		sec, err := cl.TOTPBegin(ctx)
		if err != nil {
			return serverError(err, c.Mirror, c.User)
		}
		fmt.Fprintln(env.Stdout, "Add this account to your authenticator app (scan the code, or type the secret):")
		if env.IsTerminal(env.Stdout) {
			if err := totp.QR(env.Stdout, sec.URI); err != nil {
				return err
			}
		}
		fmt.Fprintf(env.Stdout, "  %s\n  secret: %s\n", sec.URI, sec.Secret)
		if code == "" {
			in, ok := env.Stdin.(*os.File)
			if !ok || !isTerm(in) {
				fmt.Fprintln(env.Stdout, "Then turn it on with: dvpc totp confirm --otp CODE")
				return nil
			}
			fmt.Fprint(env.Stderr, "Code from the app: ")
			line, _ := bufio.NewReader(in).ReadString('\n')
			code = strings.TrimSpace(line)
		}
		fallthrough
	case "confirm":
		if code == "" {
			return usagef("give the code from the authenticator app with --otp CODE")
		}
		// The passphrase proves that it is the account's owner, not only a
		// device's token (a stolen PC), who turns TOTP on.
		acct, err := volume.ReadAccount(ctx, cl.Store())
		if err != nil {
			return serverError(err, c.Mirror, c.User)
		}
		pass, err := passphrase(env, a, false)
		if err != nil {
			return err
		}
		auth := acct.Stretch(pass).Auth
		if err := cl.TOTPConfirm(ctx, code, auth[:]); err != nil {
			return serverError(err, c.Mirror, c.User)
		}
		fmt.Fprintln(env.Stdout, "TOTP is on: logins to this account now need a code ('dvpc login ... --otp CODE').")
		return nil
	case "disable":
		if code == "" {
			return usagef("give a current code with --otp CODE")
		}
		if err := cl.TOTPDisable(ctx, code); err != nil {
			return serverError(err, c.Mirror, c.User)
		}
		fmt.Fprintln(env.Stdout, "TOTP is off.")
		return nil
	}
	return usagef("unknown totp command %q (enable, confirm, disable)", sub)
}

// runLogout ends this PC's login: its server token stops working and its
// config is removed. The local state stays as a cache until the next login.
func runLogout(ctx context.Context, env *Env, a *args) error {
	if err := a.check(0, 0); err != nil {
		return err
	}
	c, err := loadConfig(env)
	if err != nil {
		return err
	}
	if isURL(c.Mirror) {
		cl, err := configClient(c)
		if err != nil {
			return err
		}
		if err := cl.Logout(ctx); err != nil && remote.Code(err) != remote.CodeDeviceRevoked && remote.Code(err) != remote.CodeUnauthenticated {
			return serverError(err, c.Mirror, c.User)
		}
	}
	if err := os.Remove(configPath(env)); err != nil {
		return errors.E(errors.IO, configPath(env), err)
	}
	fmt.Fprintln(env.Stdout, "Logged out; this PC no longer holds the volume key.")
	return nil
}
