// Package cli is dvpc's command line: one file per command, each a
// function from parsed arguments and an explicit environment to an error.
// Main turns errors into messages and exit codes (the one table is
// exitCodes). The package holds no globals, so tests run commands
// in-process with their own environment.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/dvpc/dvpc/internal/errors"
)

// Env is everything a command may touch of the outside world.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	Now            func() time.Time
	IsTerminal     func(w io.Writer) bool
	// BeforeOpen, if set, is called before a command opens the volume
	// and reads its local state: from there on it allocates tens of MB.
	// The program gives that memory huge pages; a command that never
	// opens the volume (version, check --mirrors) is spared the cost.
	BeforeOpen func()

	passFile string // the command's --passphrase-file
}

// OSEnv is the environment of the running process.
func OSEnv() *Env {
	return &Env{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Now: time.Now,
		IsTerminal: func(w io.Writer) bool {
			f, ok := w.(*os.File)
			return ok && term.IsTerminal(int(f.Fd()))
		},
	}
}

// command is one subcommand.
type command struct {
	usage string // arguments, after the name
	help  string // one line
	run   func(ctx context.Context, env *Env, a *args) error
}

func commands() map[string]*command {
	return map[string]*command{
		"init":           {"DIR [--name NAME] [--device NAME] [--key-file FILE]", "create an account and a volume on a folder mirror (a USB drive, a NAS folder)", runInit},
		"login":          {"DIR | URL USER [--volume NAME] [--device NAME] [--otp CODE] [--key-file FILE] [--fingerprint FP]", "open a mirror's or a server's volume on this PC with the passphrase", runLogin},
		"signup":         {"URL USER [--name VOLUME] [--device NAME] [--key-file FILE] [--fingerprint FP]", "create an account and its first volume on a dvpc server", runSignup},
		"logout":         {"", "end this PC's login: its server token stops working", runLogout},
		"unlock":         {"[--remember]", "open this PC's keys with the passphrase for this session (--remember: for good, on this disk)", runUnlock},
		"lock":           {"", "forget this session's (and a remembered) key: the next command asks for the passphrase", runLock},
		"serve":          {"[--listen ADDR] [--data DIR] [--tls-cert FILE --tls-key FILE] | account list|add|disable|enable|quota|recount", "run a DVPC server, or administer its accounts", runServe},
		"devices":        {"[list] [--json] | revoke NAME", "list the account's devices, or revoke one", runDevices},
		"volumes":        {"[list] | create NAME | rename OLD NEW | delete NAME | undelete NAME | use NAME", "manage the account's volumes", runVolumes},
		"passphrase":     {"[--new-key-file FILE | --no-key-file] [--key-file FILE]", "change the passphrase (and the key file); the old one stops working", runPassphrase},
		"recovery-codes": {"[--key-file FILE]", "print ten new one-time recovery codes (older ones stop working)", runRecoveryCodes},
		"recover":        {"DIR | URL USER --code CODE", "set a new passphrase with a recovery code", runRecover},
		"totp":           {"enable | confirm --otp CODE | disable --otp CODE", "turn the server's one-time-code login step on or off", runTOTP},
		"import":         {"SRC [DEST]", "add a whole local folder to the volume (resumes if interrupted)", runImport},
		"put":            {"LOCAL PATH", "store one local file as PATH", runPut},
		"mkdir":          {"PATH", "make a folder (and missing parents)", runMkdir},
		"mv":             {"SRC DST", "move or rename a file or folder", runMv},
		"rm":             {"PATH [-r]", "remove a file, or a folder with -r", runRm},
		"chmod":          {"MODE PATH", "set permission bits (octal, like 644)", runChmod},
		"ls":             {"[PATH] [--at TIME] [--json]", "list a folder", runLs},
		"cat":            {"PATH [--at TIME]", "write a file's content to standard output", runCat},
		"find":           {"[PATH] [--at TIME] [--json]", "list every path under a folder", runFind},
		"history":        {"PATH [--json]", "every version of a file or folder: time, size, device", runHistory},
		"diff":           {"PATH --from TIME [--to TIME]", "show how a text file changed between two moments", runDiff},
		"restore":        {"PATH --at TIME", "bring back PATH as it was, as a new version", runRestore},
		"export":         {"DIR [--at TIME] [--path PATH]", "write the whole tree, as it was at TIME, to a local folder", runExport},
		"check":          {"[--read-data] [--repair] [--json] [--remove-forged] | --mirrors LOC,LOC,... [--repair] [--quorum N]", "verify the mirrors object by object and say what a bad one affects; --repair copies good copies over missing or damaged ones (needs no passphrase)", runCheck},
		"mount":          {"[VOLUME] DIR [--offline] [--cache-size SIZE]", "show the volume as a folder at DIR, read-write (DIR/.dvpc/at/TIME is the past), until unmounted", runMount},
		"pin":            {"[PATH...] [--json]", "keep files and folders on this PC, available offline (no PATH: list the pins)", runPin},
		"unpin":          {"PATH...", "let this PC's cache drop what a pin kept", runUnpin},
		"unmount":        {"DIR", "end a mount", runUnmount},
		"up":             {"[DIR] [--listen ADDR] [--user NAME] [--name VOLUME] [--device NAME]", "start here: the first time, run a server in this process, make an account and a volume on it and log in; then show the drive at DIR (default ~/DVPC) until unmounted", runUp},
		"status":         {"[--json]", "show the volume, its mirrors, what waits for them, and this device", runStatus},
		"mirror":         {"[list] | add LOCATION [--removable] [--endpoint LOC,...] [--user NAME] [--s3-access-key ID --s3-secret-key-file FILE] | remove LOCATION | sync | login URL | quorum N", "manage the volume's mirrors: folders, dvpc servers, s3:// buckets", runMirror},
	}
}

// Main runs dvpc with the given arguments and returns the exit code.
func Main(ctx context.Context, argv []string, env *Env) int {
	cmds := commands()
	if len(argv) == 0 || argv[0] == "help" || argv[0] == "-h" || argv[0] == "--help" {
		usage(env.Stdout, cmds)
		return 0
	}
	if argv[0] == "version" || argv[0] == "--version" {
		fmt.Fprintln(env.Stdout, "dvpc", Version)
		return 0
	}
	cmd, ok := cmds[argv[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "dvpc: unknown command %q; 'dvpc help' lists them\n", argv[0])
		return exitUsage
	}
	a, err := parseArgs(argv[1:])
	if err == nil {
		e := *env
		e.passFile = a.flags["passphrase-file"] // for unlocking the login's keys
		err = cmd.run(ctx, &e, a)
	}
	if err == nil {
		return 0
	}
	if ue, ok := err.(*usageError); ok {
		fmt.Fprintf(env.Stderr, "dvpc %s: %s\nusage: dvpc %s %s\n", argv[0], ue.msg, argv[0], cmd.usage)
		return exitUsage
	}
	fmt.Fprintf(env.Stderr, "dvpc %s: %s\n", argv[0], message(err))
	return exitCode(err)
}

// Serves reports whether argv runs a command that serves others until it
// is stopped (a mount, a server) rather than a job that ends.
func Serves(argv []string) bool {
	return len(argv) > 0 && (argv[0] == "mount" || argv[0] == "up" || argv[0] == "serve")
}

// Version is the version of this build.
var Version = "0.1.0-dev"

func usage(w io.Writer, cmds map[string]*command) {
	fmt.Fprintln(w, "dvpc keeps your files in encrypted, versioned volumes on mirrors.")
	fmt.Fprintln(w, "\nUsage: dvpc COMMAND [ARGS]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n                 %s\n", n, cmds[n].usage, cmds[n].help)
	}
	fmt.Fprintln(w, "\nThe passphrase comes from DVPC_PASSPHRASE, --passphrase-file FILE, or a prompt.")
	fmt.Fprintln(w, "TIME is RFC 3339, \"yesterday 09:00\", \"2h ago\", \"2026-11-20 14:00\".")
}

// Exit codes, one per error kind. README.md lists them.
const (
	exitOther       = 1
	exitUsage       = 2
	exitNotExist    = 3
	exitPermission  = 4
	exitUnavailable = 5
	exitCorrupt     = 6
	exitVersion     = 7
	exitExist       = 8
	exitIO          = 9
	exitConflict    = 10
	exitFull        = 11
)

var exitCodes = map[errors.Kind]int{
	errors.Invalid:     exitUsage,
	errors.NotExist:    exitNotExist,
	errors.Permission:  exitPermission,
	errors.Unavailable: exitUnavailable,
	errors.Corrupt:     exitCorrupt,
	errors.Version:     exitVersion,
	errors.Exist:       exitExist,
	errors.IO:          exitIO,
	errors.Conflict:    exitConflict,
	errors.IsDir:       exitUsage,
	errors.NotDir:      exitUsage,
	errors.NotEmpty:    exitExist,
	errors.Full:        exitFull,
}

func exitCode(err error) int {
	if c, ok := exitCodes[errors.KindOf(err)]; ok {
		return c
	}
	return exitOther
}

// message renders an error for a person: the paths it concerns, outermost
// first, and the innermost cause, without the internal operation names.
func message(err error) string {
	var parts []string
	for err != nil {
		e, ok := err.(*errors.Error)
		if !ok {
			parts = append(parts, err.Error())
			break
		}
		if e.Path != "" && (len(parts) == 0 || parts[len(parts)-1] != e.Path) {
			parts = append(parts, e.Path)
		}
		if e.Err == nil {
			parts = append(parts, e.Kind.String())
		}
		err = e.Err
	}
	return strings.Join(parts, ": ")
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }
