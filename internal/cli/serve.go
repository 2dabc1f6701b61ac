package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/server"
	"github.com/dvpc/dvpc/internal/volume"
)

// DefaultListen is where 'dvpc serve' listens unless told otherwise.
const DefaultListen = "127.0.0.1:7832"

// serverDataDir is the default data folder of a server run by this user.
func serverDataDir(env *Env) string {
	return filepath.Join(xdgDir(env, "XDG_DATA_HOME", ".local/share"), "server")
}

// runServe runs a DVPC server in the foreground until interrupted, or with
// "account ..." administers the accounts of its data folder.
func runServe(ctx context.Context, env *Env, a *args) error {
	if a.arg(0, "") == "account" {
		return runServeAccount(ctx, env, a)
	}
	cfg := server.Config{
		Listen:       a.flag("listen"),
		Data:         a.flag("data"),
		TLSCert:      a.flag("tls-cert"),
		TLSKey:       a.flag("tls-key"),
		InsecureHTTP: a.bool("insecure-http"),
		Signup:       !a.bool("no-signup"),
		Log:          slog.New(slog.NewTextHandler(env.Stderr, nil)),
	}
	var err error
	if cfg.MaxObject, err = sizeFlag(a, "max-object"); err != nil {
		return err
	}
	if g := a.flag("grace"); g != "" {
		if cfg.Grace, err = time.ParseDuration(g); err != nil || cfg.Grace < 0 {
			return usagef("--grace takes a duration like 168h")
		}
	}
	if w := a.flag("max-watches-per-account"); w != "" {
		if cfg.MaxWatchesPerAccount, err = strconv.Atoi(w); err != nil || cfg.MaxWatchesPerAccount < 1 {
			return usagef("--max-watches-per-account takes a positive number")
		}
	}
	if w := a.flag("max-conns"); w != "" {
		if cfg.MaxConns, err = strconv.Atoi(w); err != nil || cfg.MaxConns < 1 {
			return usagef("--max-conns takes a positive number")
		}
	}
	if w := a.flag("max-watches"); w != "" {
		if cfg.MaxWatches, err = strconv.Atoi(w); err != nil || cfg.MaxWatches < 1 {
			return usagef("--max-watches takes a positive number")
		}
	}
	if err := a.check(0, 0); err != nil {
		return err
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Data == "" {
		cfg.Data = serverDataDir(env)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// sizeFlag parses a size such as 256MiB, 10GB or 1048576.
func sizeFlag(a *args, name string) (int64, error) {
	v := a.flag(name)
	if v == "" {
		return 0, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, usagef("--%s: %v", name, err)
	}
	return n, nil
}

func parseSize(v string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if len(v) > len(u.suffix) && v[len(v)-len(u.suffix):] == u.suffix {
			v, mult = v[:len(v)-len(u.suffix)], u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, errors.Str("not a size: use a number with an optional unit, like 500MiB or 10GB")
	}
	return int64(f * float64(mult)), nil
}

// runServeAccount administers the accounts of a server's data folder:
// list, add USER, disable USER, enable USER, quota USER SIZE, recount
// USER, reset-totp USER. It works while the server runs; changes count at
// once.
func runServeAccount(ctx context.Context, env *Env, a *args) error {
	sub := a.arg(1, "list")
	data := a.flag("data")
	n := map[string]int{"list": 2, "add": 3, "disable": 3, "enable": 3, "quota": 4, "recount": 3, "reset-totp": 3}[sub]
	if n == 0 {
		return usagef("unknown account command %q (list, add, disable, enable, quota, recount, reset-totp)", sub)
	}
	if err := a.check(n, n); err != nil {
		if sub == "list" {
			if err := a.check(1, 2); err != nil {
				return err
			}
		} else {
			return err
		}
	}
	if data == "" {
		data = serverDataDir(env)
	}
	adm, err := server.OpenAdmin(data)
	if err != nil {
		return err
	}
	defer adm.Close()
	user := a.arg(2, "")
	switch sub {
	case "list":
		accts, err := adm.Accounts(ctx)
		if err != nil {
			return err
		}
		if a.bool("json") {
			return json.NewEncoder(env.Stdout).Encode(accts)
		}
		fmt.Fprintf(env.Stdout, "%-20s %10s %10s %7s %4s  %s\n", "USER", "USED", "QUOTA", "DEVICES", "TOTP", "STATE")
		for _, ac := range accts {
			quota, state, otp := "none", "active", "no"
			if ac.Quota > 0 {
				quota = size(ac.Quota)
			}
			if ac.Disabled {
				state = "disabled"
			}
			if ac.TOTP {
				otp = "yes"
			}
			fmt.Fprintf(env.Stdout, "%-20s %10s %10s %7d %4s  %s\n", ac.User, size(ac.Used), quota, ac.Devices, otp, state)
		}
		return nil
	case "add":
		// The operator picks a first passphrase and hands it over; the user
		// changes it with 'dvpc passphrase'.
		pass, err := passphrase(env, a, true)
		if err != nil {
			return err
		}
		acct, master, auth := keys.NewAccount(pass, nil, kdfParams(env))
		if _, err := adm.CreateAccount(ctx, user, acct.Marshal(), auth[:]); err != nil {
			return err
		}
		st, err := adm.Store(ctx, user)
		if err != nil {
			return err
		}
		if _, _, err := volume.CreateVolume(ctx, st, master, "default", chunk.DefaultParams(), env.Now()); err != nil {
			return err
		}
		if _, err := adm.Recount(ctx, user); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Created account %s with volume \"default\"; the user logs in with 'dvpc login URL %s' and should change the passphrase.\n", user, user)
	case "disable", "enable":
		if err := adm.SetDisabled(ctx, user, sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Account %s %sd.\n", user, sub)
	case "quota":
		q, err := parseSize(a.arg(3, ""))
		if err != nil {
			return usagef("quota: %v", err)
		}
		if err := adm.SetQuota(ctx, user, q); err != nil {
			return err
		}
		if q == 0 {
			fmt.Fprintf(env.Stdout, "Account %s has no quota.\n", user)
		} else {
			fmt.Fprintf(env.Stdout, "Account %s may store %s.\n", user, size(q))
		}
	case "recount":
		used, err := adm.Recount(ctx, user)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Account %s uses %s.\n", user, size(used))
	case "reset-totp":
		if err := adm.ResetTOTP(ctx, user); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "TOTP is off for %s; the user can turn it on again.\n", user)
	}
	return nil
}
