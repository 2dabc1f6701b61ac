package cli

import (
	"strings"
)

// args is a parsed command line: positional arguments and flags, which may
// come in any order ("dvpc restore PATH --at TIME").
type args struct {
	pos   []string
	flags map[string]string
	used  map[string]bool
}

// boolFlags take no value.
var boolFlags = map[string]bool{"offline": true, "json": true, "r": true, "recursive": true, "read-data": true, "force": true, "h": true, "help": true, "insecure-http": true, "no-signup": true, "no-key-file": true, "remove-forged": true, "removable": true, "repair": true, "debug": true, "remember": true}

func parseArgs(argv []string) (*args, error) {
	a := &args{flags: map[string]string{}, used: map[string]bool{}}
	for i := 0; i < len(argv); i++ {
		s := argv[i]
		if s == "--" {
			a.pos = append(a.pos, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(s, "-") || s == "-" {
			a.pos = append(a.pos, s)
			continue
		}
		name := strings.TrimLeft(s, "-")
		if k := strings.IndexByte(name, '='); k >= 0 {
			a.flags[name[:k]] = name[k+1:]
			continue
		}
		if boolFlags[name] {
			a.flags[name] = "true"
			continue
		}
		if i+1 >= len(argv) {
			return nil, usagef("flag --%s needs a value", name)
		}
		a.flags[name] = argv[i+1]
		i++
	}
	return a, nil
}

// flag returns a flag's value, or "".
func (a *args) flag(name string) string {
	a.used[name] = true
	return a.flags[name]
}

// bool reports whether a boolean flag is set.
func (a *args) bool(names ...string) bool {
	for _, n := range names {
		a.used[n] = true
		if a.flags[n] == "true" {
			return true
		}
	}
	return false
}

// check refuses unknown flags and a wrong number of positional arguments.
func (a *args) check(min, max int) error {
	for name := range a.flags {
		if !a.used[name] && !globalFlags[name] {
			return usagef("unknown flag --%s", name)
		}
	}
	if len(a.pos) < min || len(a.pos) > max {
		return usagef("wrong number of arguments")
	}
	return nil
}

// globalFlags are accepted by every command.
var globalFlags = map[string]bool{"passphrase-file": true, "json": true, "offline": true}

// arg returns positional argument i, or def.
func (a *args) arg(i int, def string) string {
	if i < len(a.pos) {
		return a.pos[i]
	}
	return def
}

// accept marks flags as known to a command that reads them later.
func (a *args) accept(names ...string) {
	for _, n := range names {
		a.used[n] = true
	}
}
