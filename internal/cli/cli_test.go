package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pc is one PC in a test: its own HOME, so its own client state.
type pc struct {
	t    testing.TB
	home string
	env  map[string]string
	now  func() time.Time

	beforeOpen func() // Env.BeforeOpen
}

func newPC(t testing.TB) *pc {
	home := t.TempDir()
	return &pc{t: t, home: home, env: map[string]string{
		"HOME": home, "XDG_RUNTIME_DIR": filepath.Join(home, "run"), "DVPC_PASSPHRASE": "correct horse battery", "DVPC_TEST_CHEAP_KDF": "1"}}
}

// run runs dvpc in-process and returns stdout, stderr and the exit code.
func (p *pc) run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return p.env[k] }, Now: now,
		IsTerminal: func(io.Writer) bool { return false }, BeforeOpen: p.beforeOpen}
	code := Main(context.Background(), args, env)
	return out.String(), errb.String(), code
}

// ok runs dvpc and fails the test unless it exits 0.
func (p *pc) ok(args ...string) string {
	p.t.Helper()
	out, errs, code := p.run(args...)
	if code != 0 {
		p.t.Fatalf("dvpc %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// fails runs dvpc and checks the exit code and that stderr mentions want.
func (p *pc) fails(code int, want string, args ...string) {
	p.t.Helper()
	out, errs, got := p.run(args...)
	if got != code || !strings.Contains(errs, want) {
		p.t.Fatalf("dvpc %s: exit %d (want %d), stderr %q (want %q)\n%s", strings.Join(args, " "), got, code, errs, want, out)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A command that opens the volume says so first (the program then gives
// its heap huge pages); one that handles only the mirrors' ciphertext,
// or none, does not, and is spared the cost.
func TestBeforeOpen(t *testing.T) {
	mirror, usb := filepath.Join(t.TempDir(), "nas"), filepath.Join(t.TempDir(), "usb")
	a := newPC(t)
	a.ok("init", mirror)
	a.ok("mirror", "add", usb)
	opens := 0
	a.beforeOpen = func() { opens++ }
	a.ok("version")
	a.ok("check", "--mirrors", mirror+","+usb, "--repair")
	if opens != 0 {
		t.Fatalf("version and check --mirrors called BeforeOpen %d times, want none", opens)
	}
	a.ok("ls", "/")
	if opens != 1 {
		t.Fatalf("ls called BeforeOpen %d times, want once", opens)
	}
}

func TestUserJourney(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	a := newPC(t)
	a.ok("init", mirror, "--device", "laptop")
	src := writeFiles(t, map[string]string{"notes.txt": "one\n", "photos/cat.jpg": strings.Repeat("meow", 5000)})
	a.ok("import", src, "/home")
	if got := a.ok("cat", "/home/notes.txt"); got != "one\n" {
		t.Fatalf("cat = %q", got)
	}
	before := time.Now()
	// Let the clock move past 'before' without sleeping: the next change is
	// stamped by a clock that reads later.
	a.now = func() time.Time { return before.Add(2 * time.Second) }
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("one\ntwo\n"), 0o644)
	a.ok("import", src, "/home")
	a.now = nil

	var hist []entryJSON
	json.Unmarshal([]byte(a.ok("history", "/home/notes.txt", "--json")), &hist)
	if len(hist) != 2 || hist[0].Size != 4 || hist[1].Size != 8 || hist[1].Device != "laptop" {
		t.Fatalf("history = %+v", hist)
	}
	at := before.Add(time.Second).UTC().Format(time.RFC3339Nano)
	if got := a.ok("cat", "/home/notes.txt", "--at", at); got != "one\n" {
		t.Fatalf("cat --at = %q", got)
	}
	if got := a.ok("diff", "/home/notes.txt", "--from", at); !strings.Contains(got, "+two") {
		t.Fatalf("diff = %q", got)
	}
	a.ok("restore", "/home/notes.txt", "--at", at)
	if got := a.ok("cat", "/home/notes.txt"); got != "one\n" {
		t.Fatalf("after restore cat = %q", got)
	}
	json.Unmarshal([]byte(a.ok("history", "/home/notes.txt", "--json")), &hist)
	if len(hist) != 3 {
		t.Fatalf("restore should add a version, history has %d", len(hist))
	}

	a.ok("mkdir", "/home/new/deep")
	a.ok("mv", "/home/photos", "/home/new")
	a.ok("chmod", "600", "/home/new/photos/cat.jpg")
	var ls []entryJSON
	json.Unmarshal([]byte(a.ok("ls", "/home/new/photos", "--json")), &ls)
	if len(ls) != 1 || ls[0].Mode != "0600" || ls[0].Size != 20000 {
		t.Fatalf("ls after mv/chmod = %+v", ls)
	}
	a.fails(exitNotExist, "does not exist", "cat", "/home/photos/cat.jpg")
	a.fails(exitExist, "not empty", "rm", "/home/new")
	a.ok("rm", "-r", "/home/new")
	a.fails(exitNotExist, "does not exist", "ls", "/home/new")

	// The whole tree as it was before the rm, exported.
	out := t.TempDir()
	a.ok("export", out, "--at", at)
	if b, _ := os.ReadFile(filepath.Join(out, "home/photos/cat.jpg")); len(b) != 20000 {
		t.Fatalf("export: cat.jpg has %d bytes", len(b))
	}
	if !strings.Contains(a.ok("check", "--read-data"), "no problems") {
		t.Fatal("check found problems")
	}

	// Another PC with only the mirror and the passphrase.
	b := newPC(t)
	b.ok("login", mirror, "--device", "desktop")
	if got := b.ok("cat", "/home/notes.txt"); got != "one\n" {
		t.Fatalf("second PC cat = %q", got)
	}
	var found []string
	for _, l := range strings.Split(strings.TrimSpace(b.ok("find", "/")), "\n") {
		found = append(found, l)
	}
	if strings.Join(found, ",") != "/,/home,/home/notes.txt" {
		t.Fatalf("find = %v", found)
	}
}

func TestConflictCopyAcrossPCs(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "nas")
	a, b := newPC(t), newPC(t)
	a.ok("init", mirror, "--device", "laptop")
	b.ok("login", mirror, "--device", "desktop")
	doc := filepath.Join(t.TempDir(), "doc")
	os.WriteFile(doc, []byte("v1"), 0o644)
	a.ok("put", doc, "/doc.txt")
	b.ok("ls", "/") // b sees v1
	// Both change it without seeing the other's change: b works offline.
	os.WriteFile(doc, []byte("from laptop"), 0o644)
	a.ok("put", doc, "/doc.txt")
	os.WriteFile(doc, []byte("from desktop"), 0o644)
	b.ok("put", doc, "/doc.txt", "--offline")
	for _, p := range []*pc{a, b} {
		var ls []entryJSON
		json.Unmarshal([]byte(p.ok("ls", "/", "--json")), &ls)
		if len(ls) != 2 {
			t.Fatalf("ls = %+v, want the file and one conflict copy", ls)
		}
		contents := p.ok("cat", ls[0].Path) + "|" + p.ok("cat", ls[1].Path)
		if !strings.Contains(contents, "from laptop") || !strings.Contains(contents, "from desktop") {
			t.Fatalf("both versions must survive, have %q", contents)
		}
		if !strings.Contains(ls[0].Path+ls[1].Path, "(conflict ") {
			t.Fatalf("no conflict copy name in %+v", ls)
		}
	}
}

func TestBadInput(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.fails(exitNotExist, "not logged in", "ls")
	a.ok("init", mirror)
	a.fails(exitExist, "already holds", "init", mirror)
	b := newPC(t)
	b.env["DVPC_PASSPHRASE"] = "wrong"
	b.fails(exitPermission, "wrong passphrase", "login", mirror)
	b.fails(exitNotExist, "missing", "login", filepath.Join(mirror, "nope"))
	b.fails(exitNotExist, "no DVPC account", "login", t.TempDir())
	b.fails(exitUsage, "unknown flag", "ls", "--bogus", "x")
	a.fails(exitUsage, "cannot read the time", "ls", "--at", "last tuesday-ish")
	a.fails(exitUsage, `".."`, "cat", "/../etc/passwd")

	// A newer format version is refused with a clear message, nothing changes.
	acct := filepath.Join(mirror, "account")
	raw, _ := os.ReadFile(acct)
	newer := bytes.Clone(raw)
	newer[4] = 99
	os.WriteFile(acct, newer, 0o644)
	b.env["DVPC_PASSPHRASE"] = a.env["DVPC_PASSPHRASE"]
	b.fails(exitVersion, "upgrade dvpc", "login", mirror)
	if after, _ := os.ReadFile(acct); !bytes.Equal(after, newer) {
		t.Fatal("a refused login changed the account object")
	}
}

func TestFlippedByteIsNamed(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	a.ok("import", writeFiles(t, map[string]string{"f.txt": strings.Repeat("precious ", 1000)}), "/")
	var pack string
	filepath.Walk(mirror, func(p string, fi os.FileInfo, err error) error {
		if strings.Contains(p, "/data/") && !fi.IsDir() {
			pack = p
		}
		return nil
	})
	b, _ := os.ReadFile(pack)
	b[10] ^= 0xff
	os.WriteFile(pack, b, 0o644)
	_, errs, code := a.run("cat", "/f.txt")
	if code != exitCorrupt || !strings.Contains(errs, filepath.Base(pack)) {
		t.Fatalf("cat of a corrupt chunk: exit %d, %q", code, errs)
	}
	out, _, code := a.run("check")
	if code != exitCorrupt || !strings.Contains(out, filepath.Base(pack)) || !strings.Contains(out, "affects /f.txt") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
}

// With the mirror unplugged, what the PC knows stays readable, and what
// needs the mirror fails clearly without changing anything.
func TestUnpluggedMirror(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "usb")
	a := newPC(t)
	a.ok("init", mirror)
	src := writeFiles(t, map[string]string{"a.txt": "alpha"})
	a.ok("import", src, "/")
	if err := os.Rename(mirror, mirror+".away"); err != nil {
		t.Fatal(err)
	}
	out, errs, code := a.run("ls", "/")
	if code != 0 || !strings.Contains(out, "a.txt") || !strings.Contains(errs, "not reachable") {
		t.Fatalf("ls while unplugged: exit %d, %q, %q", code, out, errs)
	}
	a.fails(exitUnavailable, "not reachable", "cat", "/a.txt")
	// Writes go on: they wait on this PC, and say so.
	_, errs, code = a.run("put", writeFiles(t, map[string]string{"b.txt": "beta"})+"/b.txt", "/b.txt")
	if code != 0 || !strings.Contains(errs, "kept on this PC only") {
		t.Fatalf("put while unplugged: exit %d, %q", code, errs)
	}
	if got := a.ok("cat", "/b.txt"); got != "beta" {
		t.Fatalf("cat of a queued file while unplugged: %q", got)
	}
	if _, err := os.Stat(mirror + ".away/volumes"); err != nil {
		t.Fatal(err)
	}
	// Without its local state, the PC knows nothing to work from.
	state := filepath.Join(a.home, ".local", "state")
	os.Rename(state, state+".lost")
	a.fails(exitUnavailable, "not reachable", "ls", "/")
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(state+".lost", state); err != nil {
		t.Fatal(err)
	}
	os.Rename(mirror+".away", mirror)
	if got := a.ok("cat", "/a.txt"); got != "alpha" {
		t.Fatalf("cat after plugging back: %q", got)
	}
	// The queue drained when the mirror came back: a PC with no state of
	// its own reads the change from the mirror.
	b := newPC(t)
	b.ok("login", mirror)
	if got := b.ok("cat", "/b.txt"); got != "beta" {
		t.Fatalf("another PC's cat of the change made while unplugged: %q", got)
	}
}

// A flipped byte in any object of the volume is found by check and named.
func TestCheckFindsEveryFlippedByte(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	a.ok("import", writeFiles(t, map[string]string{"f.txt": strings.Repeat("precious ", 1000), "g": "x"}), "/")
	var objects []string
	filepath.Walk(filepath.Join(mirror, "volumes"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			objects = append(objects, p)
		}
		return nil
	})
	if len(objects) < 5 {
		t.Fatalf("only %d objects: %v", len(objects), objects)
	}
	for _, obj := range objects {
		orig, _ := os.ReadFile(obj)
		for _, at := range []int{len(orig) - 1, len(orig) / 2} {
			bad := bytes.Clone(orig)
			bad[at] ^= 0x40
			os.WriteFile(obj, bad, 0o644)
			out, _, code := a.run("check", "--read-data")
			if code != exitCorrupt || !strings.Contains(out, filepath.Base(obj)) {
				t.Errorf("flip at %d of %s: exit %d\n%s", at, obj, code, out)
			}
			os.WriteFile(obj, orig, 0o644)
		}
	}
	a.ok("check", "--read-data")
}

// Hostile file names: what can be stored is, what cannot is named and
// skipped, and the command says so with a non-zero exit.
func TestImportHostileNames(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	src := writeFiles(t, map[string]string{"ok.txt": "fine", "new\nline": "n", "-rf": "dash", " spaced ": "s"})
	if err := os.WriteFile(filepath.Join(src, "bad\xff.txt"), []byte("latin-1"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := a.run("import", src, "/")
	if code != exitIO || !strings.Contains(errs, "bad") || !strings.Contains(errs, "UTF-8") {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	for name, want := range map[string]string{"/ok.txt": "fine", "/new\nline": "n", "/-rf": "dash", "/ spaced ": "s"} {
		if got := a.ok("cat", "--", name); got != want {
			t.Errorf("cat %q = %q, want %q", name, got, want)
		}
	}
	exp := t.TempDir()
	a.ok("export", exp)
	if b, err := os.ReadFile(filepath.Join(exp, "new\nline")); err != nil || string(b) != "n" {
		t.Errorf("export of a name with a newline: %q, %v", b, err)
	}
}

// Two PCs import into one mirror at the same time; both then see the union.
func TestConcurrentDevices(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "nas")
	a, b := newPC(t), newPC(t)
	a.ok("init", mirror, "--device", "a")
	b.ok("login", mirror, "--device", "b")
	srcA := writeFiles(t, map[string]string{"x/1": "one", "x/2": "two", "shared.txt": "from a"})
	srcB := writeFiles(t, map[string]string{"y/1": "uno", "shared.txt": "from b"})
	done := make(chan string, 2)
	for _, job := range []struct {
		p   *pc
		src string
	}{{a, srcA}, {b, srcB}} {
		go func() {
			_, errs, code := job.p.run("import", job.src, "/")
			done <- fmt.Sprintf("%d %s", code, errs)
		}()
	}
	for range 2 {
		if r := <-done; r != "0 " {
			t.Fatalf("concurrent import: %s", r)
		}
	}
	want := "/,/shared (conflict"
	for _, p := range []*pc{a, b} {
		found := strings.Join(strings.Fields(p.ok("find", "/")), ",")
		for _, f := range []string{"/x/1", "/x/2", "/y/1", "/shared.txt"} {
			if !strings.Contains(found, f) {
				t.Fatalf("after concurrent imports, %s is missing from %s", f, found)
			}
		}
		// Both created shared.txt without seeing the other: one is a copy.
		if !strings.Contains(p.ok("find", "/"), "/shared (conflict ") {
			t.Fatalf("no conflict copy of shared.txt in %s (want %s...)", found, want)
		}
	}
}

func TestPassphraseFile(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	b := newPC(t)
	delete(b.env, "DVPC_PASSPHRASE")
	b.fails(exitUsage, "DVPC_PASSPHRASE", "login", mirror)
	pf := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pf, []byte(a.env["DVPC_PASSPHRASE"]+"\n"), 0o600)
	b.ok("login", mirror, "--passphrase-file", pf)
	os.WriteFile(pf, []byte("not it\n"), 0o600)
	b.fails(exitPermission, "wrong passphrase", "login", mirror, "--passphrase-file", pf)
}

// On a terminal, a long import draws files, bytes, rate and time left;
// with --json it draws nothing.
func TestProgressOnTerminal(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	src := writeFiles(t, map[string]string{"f": strings.Repeat("x", 1<<20)})
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return a.env[k] }, Now: time.Now,
		IsTerminal: func(io.Writer) bool { return true }}
	if code := Main(context.Background(), []string{"import", src, "/"}, env); code != 0 {
		t.Fatalf("import: %d %s", code, errb.String())
	}
	for _, want := range []string{"import 1/1 files", "1.0 MB/1.0 MB", "/s", "left"} {
		if !strings.Contains(errb.String(), want) {
			t.Fatalf("progress line %q lacks %q", errb.String(), want)
		}
	}
	errb.Reset()
	if code := Main(context.Background(), []string{"import", src, "/", "--json"}, env); code != 0 || errb.Len() != 0 {
		t.Fatalf("--json import drew progress: %q", errb.String())
	}
}

// A flipped byte anywhere in the account or the volume config is reported
// as damage, never as a wrong passphrase, and changes nothing.
func TestLoginFindsDamagedKeys(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	var config string
	filepath.Walk(mirror, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "volume" {
			config = p
		}
		return nil
	})
	for _, obj := range []string{filepath.Join(mirror, "account"), config} {
		orig, _ := os.ReadFile(obj)
		for at := range orig {
			bad := bytes.Clone(orig)
			bad[at] ^= 0x01
			os.WriteFile(obj, bad, 0o644)
			b := newPC(t)
			_, errs, code := b.run("login", mirror)
			if code != exitCorrupt && !(at == 4 && code == exitVersion) {
				t.Fatalf("%s with byte %d flipped: exit %d, %q", filepath.Base(obj), at, code, errs)
			}
		}
		os.WriteFile(obj, orig, 0o644)
	}
	newPC(t).ok("login", mirror)
}

// The local state is a cache of the mirror: deleted, or damaged, it is
// rebuilt and nothing is lost.
func TestLocalStateRebuilds(t *testing.T) {
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	src := writeFiles(t, map[string]string{"a": "1", "d/b": "2"})
	a.ok("import", src, "/")
	os.WriteFile(filepath.Join(src, "a"), []byte("one"), 0o644)
	a.ok("import", src, "/")
	want := a.ok("history", "/", "--json") + a.ok("find", "/")
	state := filepath.Join(a.home, ".local", "state", "dvpc")
	var stateFile string
	filepath.Walk(state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Name() == "state" {
			stateFile = p
		}
		return nil
	})
	if stateFile == "" {
		t.Fatal("no local state file")
	}
	b, _ := os.ReadFile(stateFile)
	b[len(b)/2] ^= 1
	os.WriteFile(stateFile, b, 0o600)
	if got := a.ok("history", "/", "--json") + a.ok("find", "/"); got != want {
		t.Fatalf("after damaging the local state:\n%s\nwant:\n%s", got, want)
	}
	os.RemoveAll(state)
	if got := a.ok("history", "/", "--json") + a.ok("find", "/"); got != want {
		t.Fatalf("after deleting the local state:\n%s\nwant:\n%s", got, want)
	}
	if got := a.ok("cat", "/a"); got != "one" {
		t.Fatalf("cat after rebuilding: %q", got)
	}
	// The device goes on writing its journal where it left off.
	a.ok("mkdir", "/new")
	a.ok("check")
}
