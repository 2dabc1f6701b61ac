package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// mirrorListJSON is what 'dvpc mirror list --json' prints.
type mirrorListJSON struct {
	Quorum  int          `json:"quorum"`
	Mirrors []mirrorView `json:"mirrors"`
}

func mirrorList(t *testing.T, p *pc) mirrorListJSON {
	t.Helper()
	var l mirrorListJSON
	out := p.ok("mirror", "list", "--json")
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("mirror list --json: %v\n%s", err, out)
	}
	return l
}

// The journey of issue 4: one volume on a folder, a second folder, a
// server and an S3 bucket; every mirror holds everything; a second PC
// logs on to the server, learns the whole set, and reads with the first
// folder gone.
func TestMirrorSetJourney(t *testing.T) {
	gw := startS3(t)
	srv := startMirrorServer(t, t.TempDir())
	base := t.TempDir()
	A, B := filepath.Join(base, "a"), filepath.Join(base, "b")
	D := gw.location("alice/vol")
	a := newPC(t).withS3()
	a.ok("init", A, "--device", "laptop")
	a.ok("mirror", "add", B)
	a.ok("mirror", "add", srv.url(), "--user", "alice")
	a.ok("mirror", "add", D)
	l := mirrorList(t, a)
	if len(l.Mirrors) != 4 || l.Quorum != 2 {
		t.Fatalf("mirror list: %+v", l)
	}
	for i, kind := range []string{"dir", "dir", "http", "s3"} {
		if m := l.Mirrors[i]; m.Kind != kind || !m.Reachable {
			t.Fatalf("mirror %d: %+v, want a reachable %s", i, m, kind)
		}
	}
	files := map[string]string{"notes.txt": "one\n", "photos/cat.jpg": strings.Repeat("meow", 5000), "deep/er/x": "x"}
	a.ok("import", writeFiles(t, files), "/home")
	out := a.ok("check", "--repair")
	if !strings.Contains(out, "0 copies missing or damaged, 0 repaired") || !strings.Contains(out, "no problems found") {
		t.Fatalf("check --repair right after an import:\n%s", out)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B),
		"C": folderObjects(t, srv.accountDir()), "D": objectsOf(t, gw.open(t, "alice/vol"))})
	if out := newPC(t).ok("check", "--mirrors", A+","+B); !strings.Contains(out, "the mirrors agree") {
		t.Fatalf("operator check of the folders:\n%s", out)
	}

	// A second PC logs on to the server alone and learns the whole set
	// from the volume, S3 credentials from its own environment.
	b := newPC(t).withS3()
	out = b.ok("login", srv.url(), "alice", "--device", "desktop")
	if !strings.Contains(out, "The volume has 4 mirrors") {
		t.Fatalf("login:\n%s", out)
	}
	lb := mirrorList(t, b)
	if len(lb.Mirrors) != 4 || lb.Quorum != 2 {
		t.Fatalf("the second PC's mirror list: %+v", lb)
	}
	for i, m := range lb.Mirrors {
		if m.ID != l.Mirrors[i].ID || m.Location != l.Mirrors[i].Location || !m.Reachable {
			t.Fatalf("the second PC's mirror %d: %+v, want %+v reachable", i, m, l.Mirrors[i])
		}
	}
	away(t, A)
	for name, want := range files {
		if got := b.ok("cat", "/home/"+name); got != want {
			t.Fatalf("cat /home/%s with A away: %q", name, got)
		}
	}
	// What it writes with A away is safe on the others and waits for A;
	// its next command, A back, delivers it.
	_, errs, code := b.run("put", writeFiles(t, map[string]string{"f": "from desktop"})+"/f", "/home/b.txt")
	if code != 0 || !strings.Contains(errs, "wait for the mirror "+A) || !strings.Contains(errs, "safe on the others") {
		t.Fatalf("put with A away: exit %d, %q", code, errs)
	}
	back(t, A)
	b.ok("ls", "/")
	if st := mirrorList(t, b); st.Mirrors[0].Queued != 0 {
		t.Fatalf("after A came back: %+v", st.Mirrors[0])
	}
	if got := a.ok("cat", "/home/b.txt"); got != "from desktop" {
		t.Fatalf("the first PC reads %q", got)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B),
		"C": folderObjects(t, srv.accountDir()), "D": objectsOf(t, gw.open(t, "alice/vol"))})
}

// statusJSON is the part of 'dvpc status --json' these tests read.
type statusJSON struct {
	Mirrors []mirrorView `json:"mirrors"`
	Quorum  int          `json:"quorum"`
	Unsafe  int          `json:"unsafe_segments"`
}

func status(t *testing.T, p *pc) statusJSON {
	t.Helper()
	var st statusJSON
	out := p.ok("status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// A server that dies in the middle of an upload: the import goes on, safe
// on the other mirrors; status says what waits for the server; once it is
// back the next command delivers it, and nothing is lost.
func TestMirrorKilledMidUpload(t *testing.T) {
	base := t.TempDir()
	A, B, C := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	srv := startMirrorServer(t, filepath.Join(base, "server"))
	proxy := startCutProxy(t, srv.addr)
	a := newPC(t)
	a.ok("init", A)
	a.ok("mirror", "add", B)
	a.ok("mirror", "add", C)
	a.ok("mirror", "add", proxy.url(), "--user", "alice")
	a.ok("import", writeFiles(t, map[string]string{"first.txt": "before the crash"}), "/")

	// The server dies 200 kB into the upload of a 3 MB pack.
	big := string(randomish(3 << 20))
	files := map[string]string{"big.bin": big, "small/1.txt": "one", "small/2.txt": "two"}
	cut := proxy.arm(200 << 10)
	imported, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-cut:
		case <-imported:
			select {
			case <-cut:
			default:
				return
			}
		}
		srv.stop()
	}()
	_, errs, code := a.run("import", writeFiles(t, files), "/")
	close(imported)
	<-stopped
	select {
	case <-cut:
	default:
		t.Fatal("the import finished without the server being cut off mid-upload")
	}
	if code != 0 || !strings.Contains(errs, "wait for the mirror "+proxy.url()) {
		t.Fatalf("import with the server killed mid-upload: exit %d, %q", code, errs)
	}
	if got := a.ok("cat", "/big.bin"); got != big {
		t.Fatalf("cat /big.bin: %d bytes", len(got))
	}
	out := a.ok("status")
	if !strings.Contains(out, "all your changes are safe;") || !strings.Contains(out, proxy.url()+"  (NOT REACHABLE, ") ||
		!strings.Contains(out, "objects waiting for it") || strings.Count(out, "up to date)") != 3 {
		t.Fatalf("status with the server down:\n%s", out)
	}
	if n := len(objectFiles(t, srv.accountDir(), "/data/")); n != 1 {
		t.Fatalf("the server holds %d packs, want only the first import's", n)
	}
	// The folders go too: the next change is kept on this PC. (The
	// folders fail at once, the server only after its retries: the set
	// must not count on a folder whose back-off ran out meanwhile.)
	away(t, A)
	away(t, B)
	away(t, C)
	files["late.txt"] = "written with every mirror down"
	_, errs, code = a.run("put", writeFiles(t, map[string]string{"f": files["late.txt"]})+"/f", "/late.txt")
	if code != 0 || !strings.Contains(errs, "kept on this PC only") {
		t.Fatalf("put with every mirror down: exit %d, %q", code, errs)
	}
	back(t, A)
	back(t, B)
	back(t, C)

	// Back: the next command delivers what waited.
	srv.start()
	proxy.heal()
	if _, errs, code := a.run("ls", "/"); code != 0 || errs != "" {
		t.Fatalf("ls once the server is back: exit %d, %q", code, errs)
	}
	if st := status(t, a); st.Mirrors[3].Queued != 0 || !st.Mirrors[3].Reachable {
		t.Fatalf("after the server came back: %+v", st.Mirrors[3])
	}
	out = a.ok("check", "--repair")
	if !strings.Contains(out, "0 copies missing or damaged, 0 repaired") || !strings.Contains(out, "no problems found") {
		t.Fatalf("check --repair after the server caught up:\n%s", out)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B),
		"C": folderObjects(t, C), "server": folderObjects(t, srv.accountDir())})
	// Nothing lost: a PC that knows only the server reads it all.
	b := newPC(t)
	b.ok("login", proxy.url(), "alice")
	away(t, A)
	away(t, B)
	away(t, C)
	for name, want := range files {
		if got := b.ok("cat", "/"+name); got != want {
			t.Fatalf("cat /%s from the server alone: %d bytes", name, len(got))
		}
	}
}

// With every mirror out of reach, work goes on: the changes wait on this
// PC, status says they are not yet safe, and the next command once the
// mirrors are back delivers them.
func TestAllMirrorsDown(t *testing.T) {
	base := t.TempDir()
	A, B, C := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	a := newPC(t)
	a.ok("init", A)
	a.ok("mirror", "add", B)
	a.ok("mirror", "add", C, "--removable")
	a.ok("put", writeFiles(t, map[string]string{"f": "v1"})+"/f", "/f.txt")
	away(t, A)
	away(t, B)
	away(t, C)
	src := writeFiles(t, map[string]string{"f": "v2", "g": "new", "h": strings.Repeat("big ", 100000)})
	for _, put := range [][2]string{{"f", "/f.txt"}, {"g", "/g.txt"}, {"h", "/dir/h.txt"}} {
		_, errs, code := a.run("put", filepath.Join(src, put[0]), put[1])
		if code != 0 || !strings.Contains(errs, "kept on this PC only") {
			t.Fatalf("put %s with every mirror away: exit %d, %q", put[1], code, errs)
		}
	}
	a.ok("mkdir", "/empty")
	if got := a.ok("cat", "/dir/h.txt"); got != strings.Repeat("big ", 100000) {
		t.Fatalf("cat of a change kept on this PC: %d bytes", len(got))
	}
	out, _, code := a.run("status")
	if code != 0 || !strings.Contains(out, "NOT YET SAFE: 4 journal segments") || strings.Count(out, "NOT REACHABLE") != 2 || !strings.Contains(out, "unplugged") {
		t.Fatalf("status with every mirror away: exit %d\n%s", code, out)
	}
	// Nothing reached the mirrors.
	for _, m := range []string{A, B, C} {
		if n := len(objectFiles(t, m+".away", "/journal/")); n != 1 {
			t.Fatalf("%s holds %d journal segments, want the one from before", m, n)
		}
	}

	// Two are back: the changes are safe on them, and wait for the third.
	back(t, A)
	back(t, B)
	if _, errs, code := a.run("ls", "/"); code != 0 || errs != "" {
		t.Fatalf("ls with two mirrors back: exit %d, %q", code, errs)
	}
	st := status(t, a)
	if st.Unsafe != 0 || st.Mirrors[0].Queued != 0 || st.Mirrors[1].Queued != 0 || st.Mirrors[2].Queued == 0 {
		t.Fatalf("status with two mirrors back: %+v", st)
	}
	if out := a.ok("status"); !strings.Contains(out, "all your changes are safe; ") || !strings.Contains(out, "unplugged, ") {
		t.Fatalf("status with two mirrors back:\n%s", out)
	}
	back(t, C)
	if _, errs, code := a.run("ls", "/"); code != 0 || errs != "" {
		t.Fatalf("ls with the mirrors back: exit %d, %q", code, errs)
	}
	if st := status(t, a); st.Unsafe != 0 || st.Mirrors[2].Queued != 0 {
		t.Fatalf("status after the drain: %+v", st)
	}
	if out := a.ok("status"); !strings.Contains(out, "all your changes are safe\n") {
		t.Fatalf("status after the drain:\n%s", out)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B), "C": folderObjects(t, C)})
	// A fresh PC, on any mirror, sees every change.
	for _, m := range []string{A, B, C} {
		b := newPC(t)
		b.ok("login", m)
		for p, want := range map[string]string{"/f.txt": "v2", "/g.txt": "new", "/dir/h.txt": strings.Repeat("big ", 100000)} {
			if got := b.ok("cat", p); got != want {
				t.Fatalf("a fresh PC on %s: cat %s = %d bytes", m, p, len(got))
			}
		}
		if got := strings.Fields(b.ok("find", "/")); strings.Join(got, " ") != "/ /dir /dir/h.txt /empty /f.txt /g.txt" {
			t.Fatalf("a fresh PC on %s: find = %v", m, got)
		}
		var hist []entryJSON
		json.Unmarshal([]byte(b.ok("history", "/f.txt", "--json")), &hist)
		if len(hist) != 2 {
			t.Fatalf("history of /f.txt: %+v", hist)
		}
	}
}

// objectFiles returns the files of a folder mirror under a part of the
// path ("/data/", "/journal/"), sorted.
func objectFiles(t *testing.T, root, under string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, under) && !strings.Contains(fi.Name(), ".tmp-") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// tempFiles returns the temporary files of writes in a folder mirror.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".tmp-") {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noise returns n bytes that do not compress, different for each seed.
func noise(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return string(b)
}

// rel is the object name of a file of a folder mirror.
func rel(t *testing.T, root, file string) string {
	r, err := filepath.Rel(root, file)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(r)
}

// A mirror that corrupts a byte, one that lost objects, and one that
// serves another object's bytes under a name: reads are right, check
// names each bad copy, and repair mends them all; the operator's check
// needs no login and no passphrase.
func TestMirrorDamage(t *testing.T) {
	base := t.TempDir()
	A, B, C := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c")
	a := newPC(t)
	a.ok("init", A)
	a.ok("mirror", "add", B)
	a.ok("mirror", "add", C)
	files := map[string]string{"one/x.bin": noise(1, 40<<10), "one/y": "y"}
	a.ok("import", writeFiles(t, files), "/")
	more := map[string]string{"two/z.bin": noise(2, 60<<10)}
	a.ok("import", writeFiles(t, more), "/")
	for k, v := range more {
		files[k] = v
	}
	packs := objectFiles(t, A, "/data/")
	if len(packs) != 2 {
		t.Fatalf("%d packs, want 2: %v", len(packs), packs)
	}
	p1, p2 := rel(t, A, packs[0]), rel(t, A, packs[1])
	seg := rel(t, A, objectFiles(t, A, "/journal/")[0])

	// A: a flipped byte in p2. B: p1 gone. C: p2's bytes under p1's name.
	b, err := os.ReadFile(filepath.Join(A, p2))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x10
	if err := os.WriteFile(filepath.Join(A, p2), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(B, p1)); err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(C, p2))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(C, p1), other, 0o644); err != nil {
		t.Fatal(err)
	}

	// Every read is right, from a PC that has read nothing yet.
	r := newPC(t)
	r.ok("login", A)
	for name, want := range files {
		if got := r.ok("cat", "/"+name); got != want {
			t.Fatalf("cat /%s with damaged mirrors: %d bytes", name, len(got))
		}
	}
	// B loses a journal segment too (a read would have caught it up).
	if err := os.Remove(filepath.Join(B, seg)); err != nil {
		t.Fatal(err)
	}

	out, _, code := a.run("check", "--read-data")
	if code != exitCorrupt {
		t.Fatalf("check --read-data of damaged mirrors: exit %d\n%s", code, out)
	}
	for _, want := range []string{p2 + " on " + A + ": damaged", p1 + " on " + B + ": missing", seg + " on " + B + ": missing", p1 + " on " + C + ": size differs"} {
		if !strings.Contains(out, want) {
			t.Fatalf("check --read-data does not say %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, " on "+base); n != 4 || !strings.Contains(out, "4 copies missing or damaged") {
		t.Fatalf("check --read-data names %d bad copies, want 4:\n%s", n, out)
	}
	// A check without --repair changed nothing: a second one finds the
	// same; the repair mends all four.
	if again, _, _ := a.run("check", "--read-data"); strings.Count(again, " on "+base) != 4 {
		t.Fatalf("a check without --repair mended mirrors; the next finds:\n%s", again)
	}
	out, _, code = a.run("check", "--repair", "--read-data")
	var found, repaired int
	fmt.Sscanf(out, "compared the mirrors: %d objects, %d copies missing or damaged, %d repaired", new(int), &found, &repaired)
	if code != 0 || found != 4 || repaired != found || !strings.Contains(out, "no problems found") {
		t.Fatalf("check --repair --read-data: exit %d\n%s", code, out)
	}
	out = a.ok("check", "--read-data")
	if !strings.Contains(out, "0 copies missing or damaged") || !strings.Contains(out, "no problems found") {
		t.Fatalf("check --read-data after repair:\n%s", out)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B), "C": folderObjects(t, C)})
	for _, n := range []string{p1, p2, seg} {
		want, _ := os.ReadFile(filepath.Join(A, n))
		for _, m := range []string{B, C} {
			if got, err := os.ReadFile(filepath.Join(m, n)); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s on %s differs after repair: %v", n, m, err)
			}
		}
	}

	// The operator: no login, no passphrase.
	if err := os.Remove(filepath.Join(C, p2)); err != nil {
		t.Fatal(err)
	}
	op := newPC(t)
	delete(op.env, "DVPC_PASSPHRASE")
	out = op.ok("check", "--mirrors", A+","+B+","+C, "--repair")
	if !strings.Contains(out, p2+" on "+C+": missing") || !strings.Contains(out, "1 repaired") || !strings.Contains(out, "the mirrors agree") {
		t.Fatalf("operator check --repair:\n%s", out)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B), "C": folderObjects(t, C)})
	if out, _, code := op.run("check", "--mirrors", A+","+B+","+C, "--read-data"); code != 0 || !strings.Contains(out, "the mirrors agree") {
		t.Fatalf("operator check after repair: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(op.home, ".config")); err == nil {
		t.Fatal("the operator's check left a login behind")
	}
}

// A mirror that hides the newest journal segment (rolled back, or
// withholding an update) is found out by the other mirror, and the user
// warned until it is caught up.
func TestMirrorRollbackWarned(t *testing.T) {
	base := t.TempDir()
	A, B := filepath.Join(base, "a"), filepath.Join(base, "b")
	a := newPC(t)
	a.ok("init", A)
	a.ok("mirror", "add", B)
	src := writeFiles(t, map[string]string{"f": "one"})
	a.ok("put", filepath.Join(src, "f"), "/f.txt")
	os.WriteFile(filepath.Join(src, "f"), []byte("two"), 0o644)
	a.ok("put", filepath.Join(src, "f"), "/f.txt")
	segs := objectFiles(t, B, "/journal/")
	if len(segs) < 2 {
		t.Fatalf("journal segments on B: %v", segs)
	}
	newest := segs[len(segs)-1]
	if err := os.Remove(newest); err != nil {
		t.Fatal(err)
	}
	want := "the mirror " + B + " lacks 1 journal segments that another mirror holds"
	out, errs, code := a.run("ls", "/")
	if code != 0 || !strings.Contains(out, "f.txt") || !strings.Contains(errs, want) {
		t.Fatalf("ls with B rolled back: exit %d, %q, want a warning %q", code, errs, want)
	}
	// That command caught B up on its way out. Rolled back again: reads
	// show the newest, with the warning.
	if err := os.Remove(newest); err != nil {
		t.Fatal(err)
	}
	if got, errs, code := a.run("cat", "/f.txt"); code != 0 || got != "two" || !strings.Contains(errs, want) {
		t.Fatalf("cat with B rolled back: exit %d, %q, %q", code, got, errs)
	}
	// And again: 'mirror sync' mends B, after which no command warns.
	if err := os.Remove(newest); err != nil {
		t.Fatal(err)
	}
	_, errs, code = a.run("mirror", "sync")
	if code != 0 || !strings.Contains(errs, want) {
		t.Fatalf("mirror sync: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(newest); err != nil {
		t.Fatalf("the segment is not back on B after mirror sync: %v", err)
	}
	if _, errs, code := a.run("ls", "/"); code != 0 || errs != "" {
		t.Fatalf("ls after mirror sync: exit %d, %q", code, errs)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B)})

	// A PC that logs on to B alone sees B's older state at first; once it
	// knows the set, A proves B behind, and it reads the newest.
	if err := os.Remove(newest); err != nil {
		t.Fatal(err)
	}
	c := newPC(t)
	c.ok("login", B)
	got, errs, code := c.run("cat", "/f.txt")
	if code != 0 || got != "two" || !strings.Contains(errs, want) {
		t.Fatalf("another PC's cat with B rolled back: exit %d, %q, %q", code, got, errs)
	}

	// Both mirrors roll back: this PC's own state proves it, and nothing
	// older is shown as the truth.
	for _, m := range []string{A, B} {
		if err := os.Remove(filepath.Join(m, rel(t, B, newest))); err != nil {
			t.Fatal(err)
		}
	}
	a.fails(exitCorrupt, "fewer journal segments than were read before", "cat", "/f.txt")
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "B": folderObjects(t, B)})
}

// Removing a mirror never leaves a change on fewer mirrors than the
// quorum: refused while another is out of reach, done once all are back.
func TestMirrorRemoveKeepsQuorum(t *testing.T) {
	base := t.TempDir()
	A, B, C, D := filepath.Join(base, "a"), filepath.Join(base, "b"), filepath.Join(base, "c"), filepath.Join(base, "d")
	a := newPC(t)
	a.ok("init", A)
	a.ok("mirror", "add", B)
	a.ok("mirror", "add", C)
	a.ok("mirror", "add", D)
	a.ok("import", writeFiles(t, map[string]string{"f": "data", "g/h": "more"}), "/")
	if l := mirrorList(t, a); len(l.Mirrors) != 4 || l.Quorum != 2 {
		t.Fatalf("mirror list: %+v", l)
	}
	b := newPC(t)
	b.ok("login", A)
	away(t, C)
	a.fails(exitUnavailable, "not removed", "mirror", "remove", B)
	_, errs, _ := a.run("mirror", "remove", B)
	if !strings.Contains(errs, "bring them online") {
		t.Fatalf("the refusal does not say what to do: %q", errs)
	}
	back(t, C)
	if l := mirrorList(t, a); len(l.Mirrors) != 4 {
		t.Fatalf("a refused remove changed the set: %+v", l)
	}
	a.fails(exitNotExist, "not a mirror", "mirror", "remove", filepath.Join(base, "nope"))
	// A and C lost a pack that B alone holds now: the remove copies it to
	// them before B goes.
	pack := rel(t, C, objectFiles(t, C, "/data/")[0])
	for _, m := range []string{A, C} {
		if err := os.Remove(filepath.Join(m, pack)); err != nil {
			t.Fatal(err)
		}
	}
	if out := a.ok("mirror", "remove", B); !strings.Contains(out, "removed mirror "+B) {
		t.Fatalf("mirror remove:\n%s", out)
	}
	l := mirrorList(t, a)
	if len(l.Mirrors) != 3 || l.Quorum != 2 || l.Mirrors[0].Location != A || l.Mirrors[1].Location != C {
		t.Fatalf("mirror list after remove: %+v", l)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "C": folderObjects(t, C), "D": folderObjects(t, D)})
	if _, err := os.Stat(filepath.Join(C, pack)); err != nil {
		t.Fatalf("the pack only the removed mirror held: %v", err)
	}
	// B is no longer written to; a PC that logs on to C learns the set of
	// two.
	a.ok("put", writeFiles(t, map[string]string{"x": "after"})+"/x", "/x")
	if _, err := os.Stat(filepath.Join(B, "volumes")); err != nil {
		t.Fatal("the removed mirror's data is gone: ", err)
	}
	if n, m := len(objectFiles(t, B, "/journal/")), len(objectFiles(t, C, "/journal/")); n >= m {
		t.Fatalf("the removed mirror got the new change: %d segments, C has %d", n, m)
	}

	// A change made with every mirror away waits for all; the one that
	// stays away is removed: the others get the change, and nothing is
	// left waiting for the mirror that is gone.
	away(t, A)
	away(t, C)
	away(t, D)
	a.ok("put", writeFiles(t, map[string]string{"y": "while away"})+"/y", "/y")
	b.ok("put", writeFiles(t, map[string]string{"z": "b while away"})+"/z", "/z")
	back(t, A)
	back(t, C)
	if out := a.ok("mirror", "remove", D); !strings.Contains(out, "removed mirror "+D) {
		t.Fatalf("mirror remove of a mirror out of reach:\n%s", out)
	}
	st := status(t, a)
	if len(st.Mirrors) != 2 || st.Unsafe != 0 || st.Mirrors[0].Queued != 0 || st.Mirrors[1].Queued != 0 {
		t.Fatalf("status after removing a mirror out of reach: %+v", st)
	}
	if _, errs, code := a.run("ls", "/"); code != 0 || errs != "" {
		t.Fatalf("ls after removing a mirror out of reach: exit %d, %q", code, errs)
	}
	// The other PC learns that D is gone: what waited for it there waits
	// no more, and its change reaches A and C.
	b.ok("ls", "/")
	if st := status(t, b); len(st.Mirrors) != 2 || st.Unsafe != 0 || st.Mirrors[0].Queued != 0 || st.Mirrors[1].Queued != 0 {
		t.Fatalf("the other PC's status after D was removed: %+v", st)
	}
	if _, errs, code := b.run("ls", "/"); code != 0 || errs != "" {
		t.Fatalf("the other PC's ls after D was removed: exit %d, %q", code, errs)
	}
	sameObjects(t, map[string]map[string][32]byte{"A": folderObjects(t, A), "C": folderObjects(t, C)})

	b = newPC(t)
	b.ok("login", C)
	if l := mirrorList(t, b); len(l.Mirrors) != 2 {
		t.Fatalf("a new PC's mirror list: %+v", l)
	}
	away(t, B)
	for p, want := range map[string]string{"/x": "after", "/y": "while away", "/z": "b while away", "/f": "data", "/g/h": "more"} {
		if got := b.ok("cat", p); got != want {
			t.Fatalf("cat %s = %q", p, got)
		}
	}
}

// The end-to-end test of issue 4: four mirrors of mixed kinds and two
// PCs; random writes from either while mirrors stop and start at random,
// and one is wiped. At the end, with all back and synced, every version
// of every file is readable and right, both PCs see one tree, and every
// mirror holds every object.
func TestMirrorSetRandom(t *testing.T) {
	if testing.Short() {
		t.Skip("a long end-to-end test")
	}
	seed := uint64(14) // stops the server twice, S3 twice, wipes f2 while away
	if s := os.Getenv("DVPC_MIRROR_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (set DVPC_MIRROR_SEED to repeat another)", seed)
	rnd := rand.New(rand.NewPCG(seed, 4))

	gw := startS3(t)
	srv := startMirrorServer(t, t.TempDir())
	base := t.TempDir()
	F1, F2 := filepath.Join(base, "f1"), filepath.Join(base, "f2")
	// One clock for both PCs, a second further on at every command, so
	// that every version has a time of its own.
	clock := time.Now()
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	a, b := newPC(t).withS3(), newPC(t).withS3()
	a.now, b.now = now, now
	a.ok("init", F1, "--device", "a")
	a.ok("mirror", "add", F2)
	a.ok("mirror", "add", srv.url(), "--user", "alice")
	a.ok("mirror", "add", gw.location("vol"))
	b.ok("login", F2, "--device", "b")
	if l := mirrorList(t, b); len(l.Mirrors) != 4 {
		t.Fatalf("b's mirror list: %+v", l)
	}

	type mirror struct {
		name      string
		up        bool
		stop, run func()
		// A command finds a server out of reach only after its retries,
		// a second or so: to keep the test short, a stopped server is
		// started again after at most this many steps.
		maxDown, downFor int
	}
	mirrors := []*mirror{
		{name: "f1", stop: func() { away(t, F1) }, run: func() { back(t, F1) }},
		{name: "f2", stop: func() { away(t, F2) }, run: func() { back(t, F2) }},
		{name: "server", stop: srv.stop, run: srv.start, maxDown: 2},
		{name: "s3", stop: gw.stop, run: gw.start},
	}
	for _, m := range mirrors {
		m.up = true
	}
	versions := map[string][]string{} // path -> every content written, oldest first
	src := t.TempDir()
	const steps = 30
	for step := range steps {
		for _, m := range mirrors {
			if !m.up && m.maxDown > 0 {
				if m.downFor++; m.downFor > m.maxDown {
					m.run()
					m.up, m.downFor = true, 0
					t.Logf("step %d: %s up again", step, m.name)
				}
			}
		}
		switch r := rnd.IntN(10); {
		case step == steps/2:
			// f2 is wiped, as if its drive were replaced by an empty one.
			where := F2
			if !mirrors[1].up {
				where += ".away"
			}
			if err := os.RemoveAll(where); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(where, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Logf("step %d: f2 wiped", step)
		case r < 3:
			m := mirrors[rnd.IntN(len(mirrors))]
			if m.up {
				m.stop()
			} else {
				m.run()
			}
			m.up = !m.up
			t.Logf("step %d: %s up %v", step, m.name, m.up)
		default:
			p, who := a, "a"
			if rnd.IntN(2) == 1 {
				p, who = b, "b"
			}
			path := fmt.Sprintf("/%s/%d.txt", who, rnd.IntN(4))
			if rnd.IntN(3) == 0 {
				path = fmt.Sprintf("/%s/sub/%d.bin", who, rnd.IntN(2))
			}
			data := fmt.Sprintf("step %d: %s\n", step, strings.Repeat(who, rnd.IntN(3000)))
			if rnd.IntN(5) == 0 {
				data += string(randomish(100<<10 + step))
			}
			local := filepath.Join(src, "f")
			if err := os.WriteFile(local, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, errs, code := p.run("put", local, path)
			if code != 0 {
				t.Fatalf("step %d: %s: put %s: exit %d, %s", step, who, path, code, errs)
			}
			versions[path] = append(versions[path], data)
			note := ""
			if strings.Contains(errs, "kept on this PC only") {
				note = " (kept on this PC only)"
			}
			t.Logf("step %d: %s put %s%s", step, who, path, note)
		}
	}

	// All back; each PC delivers what it kept and mends the mirrors.
	for _, m := range mirrors {
		if !m.up {
			m.run()
			m.up = true
		}
	}
	for _, p := range []*pc{a, b} {
		p.ok("mirror", "sync")
	}
	for _, p := range []*pc{a, b} {
		out, errs, code := p.run("check", "--repair")
		if code != 0 || !strings.Contains(out, " 0 copies missing or damaged, 0 repaired") || errs != "" {
			t.Fatalf("check --repair after the syncs: exit %d\n%s%s", code, out, errs)
		}
		if st := status(t, p); st.Unsafe != 0 {
			t.Fatalf("status after the syncs: %+v", st)
		}
		for _, m := range status(t, p).Mirrors {
			if !m.Reachable || m.Queued != 0 || m.Lacking != 0 {
				t.Fatalf("a mirror after the syncs: %+v", m)
			}
		}
	}

	// Every version of every file, from both PCs.
	for _, p := range []*pc{a, b} {
		for path, want := range versions {
			var hist []entryJSON
			json.Unmarshal([]byte(p.ok("history", path, "--json")), &hist)
			if len(hist) != len(want) {
				t.Fatalf("history %s has %d versions, %d were written", path, len(hist), len(want))
			}
			for i, h := range hist {
				if h.Size != uint64(len(want[i])) {
					t.Fatalf("history %s: version %d has %d bytes, want %d", path, i, h.Size, len(want[i]))
				}
				at := h.Time.Add(time.Second / 2).Format(time.RFC3339Nano)
				if got := p.ok("cat", path, "--at", at); got != want[i] {
					t.Fatalf("cat %s --at %s (version %d): %d bytes differ from the %d written", path, at, i, len(got), len(want[i]))
				}
			}
			if got := p.ok("cat", path); got != want[len(want)-1] {
				t.Fatalf("cat %s: not the last version written", path)
			}
		}
	}
	treeA, treeB := a.ok("find", "/", "--json"), b.ok("find", "/", "--json")
	if treeA != treeB {
		t.Fatalf("the PCs see different trees:\n%s\n%s", treeA, treeB)
	}
	if n := strings.Count(treeA, `"type":"file"`); n != len(versions) {
		t.Fatalf("the tree holds %d files, %d were written:\n%s", n, len(versions), treeA)
	}
	sameObjects(t, map[string]map[string][32]byte{"f1": folderObjects(t, F1), "f2": folderObjects(t, F2),
		"server": folderObjects(t, srv.accountDir()), "s3": objectsOf(t, gw.open(t, "vol"))})
	if out := newPC(t).ok("check", "--mirrors", F1+","+F2+","+srv.accountDir(), "--read-data"); !strings.Contains(out, "the mirrors agree") {
		t.Fatalf("operator check:\n%s", out)
	}
	// No write left half-done files behind on a folder.
	for _, f := range []string{F1, F2, srv.accountDir()} {
		if tmp := tempFiles(t, f); len(tmp) > 0 {
			t.Errorf("temporary files left on %s: %v", f, tmp)
		}
	}
}

// S3 credentials given with flags stay on this PC (its login, not the
// volume) and serve every later command; a wrong secret is refused at add.
func TestMirrorS3CredentialFlags(t *testing.T) {
	gw := startS3(t)
	a := newPC(t)
	dirA := filepath.Join(t.TempDir(), "a")
	a.ok("init", dirA)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("wrong-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.fails(exitPermission, "", "mirror", "add", gw.location("flags"), "--s3-access-key", s3Access, "--s3-secret-key-file", secret)
	a.fails(exitUsage, "both", "mirror", "add", gw.location("flags"), "--s3-access-key", s3Access)
	if err := os.WriteFile(secret, []byte(s3Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.ok("mirror", "add", gw.location("flags"), "--s3-access-key", s3Access, "--s3-secret-key-file", secret)
	a.ok("put", writeFiles(t, map[string]string{"f": "to the bucket"})+"/f", "/f")
	if got := objectsOf(t, gw.open(t, "flags")); len(got) == 0 || len(got) != len(folderObjects(t, dirA)) {
		t.Fatalf("the bucket holds %d objects, the folder %d", len(got), len(folderObjects(t, dirA)))
	}
	// The volume's record of the set names the bucket, not the secret.
	for name := range folderObjects(t, dirA) {
		if strings.Contains(name, "/mirrors/") {
			b, err := os.ReadFile(filepath.Join(dirA, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), s3Secret) || strings.Contains(string(b), s3Access) {
				t.Fatal("the mirror set record holds the S3 credentials")
			}
		}
	}
}
