package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/volume"
)

func runInit(ctx context.Context, env *Env, a *args) error {
	name := a.flag("name")
	dev := deviceName(a)
	a.accept("key-file")
	if err := a.check(1, 1); err != nil {
		return err
	}
	if name == "" {
		name = "default"
	}
	path, err := filepath.Abs(a.arg(0, ""))
	if err != nil {
		return errors.E(errors.Invalid, err)
	}
	pass, err := passphrase(env, a, true)
	if err != nil {
		return err
	}
	root, err := dir.Create(path)
	if err != nil {
		return err
	}
	kf, err := makeKeyFile(env, a, "key-file")
	if err != nil {
		return err
	}
	acct, master, _ := keys.NewAccount(pass, kf, kdfParams(env))
	cfg, vk, err := volume.InitAccount(ctx, root, acct, master, name, env.Now())
	if err != nil {
		return err
	}
	if err := loginDevice(ctx, env, root, path, cfg, vk, dev, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Created volume %q on %s; this PC is device %q.\n", name, path, dev)
	return nil
}

func runLogin(ctx context.Context, env *Env, a *args) error {
	if isURL(a.arg(0, "")) {
		return loginRemote(ctx, env, a, a.arg(0, ""))
	}
	want := a.flag("volume")
	dev := deviceName(a)
	kf, err := readKeyFile(a, "key-file")
	if err != nil {
		return err
	}
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
	pass, err := passphrase(env, a, false)
	if err != nil {
		return err
	}
	master, err := volume.Unlock(ctx, root, pass, kf)
	if err != nil {
		return err
	}
	cfg, vk, err := pickVolume(ctx, root, master, want)
	if err != nil {
		return err
	}
	if err := loginDevice(ctx, env, root, path, cfg, vk, dev, pass); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Logged in to volume %q on %s as device %q.\n", cfg.Name, path, dev)
	return adoptMirrors(ctx, env, a, pass)
}

// loginDevice registers a new device for this PC and saves the login.
// Its keys are kept sealed under pass (unlock.go).
func loginDevice(ctx context.Context, env *Env, root blob.Store, path string, cfg *volume.Config, vk keys.Key, name string, pass []byte) error {
	id := volume.NewIdentity(name)
	if err := volume.Register(ctx, root, cfg, vk, id, env.Now()); err != nil {
		return err
	}
	c := &clientConfig{
		Mirror: path, Volume: cfg.ID.String(), VolumeName: cfg.Name, VolumeKey: vk[:],
		Chunk: cfg.Chunk, Created: cfg.Created, AccountKey: cfg.Account,
		Device: id.ID.String(), DeviceName: name, DeviceKey: id.Key.Seed(),
	}
	if err := sealLogin(env, c, pass); err != nil {
		return err
	}
	return saveConfig(env, c)
}
