package mount_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/volume"
)

// run runs a program in dir and fails the test with its output if it
// fails.
//
// The program starts in a shell that goes to dir: this process serves the
// mount, and a child it forks must not touch the mount before it has
// exec'd (the fork waits for the exec, and the kernel's read of a file of
// the mount waits for this process).
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `cd "$0" && exec "$@"`, dir, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func need(t *testing.T, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s is not installed", p)
		}
	}
}

// TestPrograms runs real programs in the mount: git, tar, the Go
// toolchain and SQLite; then checks what they wrote from another device.
func TestPrograms(t *testing.T) {
	canMount(t)
	root := mem.New()
	tv := volume.NewTest(t, root, "pc", nil)
	r := mountRW(t, tv.Volume, "")
	gitEnv := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + t.TempDir()}

	t.Run("git", func(t *testing.T) {
		need(t, "git")
		// A repository outside the mount, with some history.
		src := t.TempDir()
		run(t, src, gitEnv, "git", "init", "-q", "-b", "main")
		for i := range 20 {
			os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d.txt", i%7)), bytes.Repeat([]byte(fmt.Sprintf("line %d\n", i)), 100*i+1), 0o644)
			run(t, src, gitEnv, "git", "add", "-A")
			run(t, src, gitEnv, "git", "commit", "-q", "-m", fmt.Sprintf("commit %d", i))
		}
		run(t, r.dir, gitEnv, "git", "clone", "-q", "--no-hardlinks", src, "repo")
		repo := r.path("repo")
		run(t, repo, gitEnv, "git", "fsck", "--full", "--strict")
		if out := run(t, repo, gitEnv, "git", "status", "--porcelain"); out != "" {
			t.Fatalf("git status of a fresh clone: %q", out)
		}
		os.WriteFile(filepath.Join(repo, "new.txt"), []byte("new\n"), 0o644)
		run(t, repo, gitEnv, "git", "add", "new.txt")
		run(t, repo, gitEnv, "git", "commit", "-q", "-m", "in the mount")
		run(t, repo, gitEnv, "git", "gc", "-q")
		run(t, repo, gitEnv, "git", "fsck", "--full", "--strict")
		if out := run(t, repo, gitEnv, "git", "log", "--oneline"); strings.Count(out, "\n") != 21 {
			t.Fatalf("git log after gc: %s", out)
		}
	})

	t.Run("tar", func(t *testing.T) {
		need(t, "tar")
		src := t.TempDir()
		os.MkdirAll(filepath.Join(src, "a/b"), 0o750)
		os.WriteFile(filepath.Join(src, "a/b/x.bin"), bytes.Repeat([]byte{1, 2, 3}, 300000), 0o640)
		os.WriteFile(filepath.Join(src, "a/run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
		os.Symlink("b/x.bin", filepath.Join(src, "a/link"))
		archive := filepath.Join(t.TempDir(), "a.tar")
		run(t, src, nil, "tar", "cf", archive, "a")
		os.Mkdir(r.path("untar"), 0o755)
		run(t, r.path("untar"), nil, "tar", "xpf", archive)
		// Pack it again from the mount: the same listing, modes and times.
		again := filepath.Join(t.TempDir(), "b.tar")
		run(t, r.path("untar"), nil, "tar", "cf", again, "a")
		listing := func(a string) string {
			lines := strings.Split(run(t, "/", nil, "tar", "tvf", a, "--numeric-owner", "--full-time"), "\n")
			sort.Strings(lines) // folders are read in another order
			return strings.Join(lines, "\n")
		}
		want, got := listing(archive), listing(again)
		if got != want {
			t.Fatalf("tar listing from the mount:\n%s\nwant:\n%s", got, want)
		}
		run(t, r.path("untar"), nil, "cmp", "a/b/x.bin", filepath.Join(src, "a/b/x.bin"))
	})

	t.Run("go build", func(t *testing.T) {
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			t.Skip("no Go toolchain")
		}
		mod := r.path("hello")
		os.Mkdir(mod, 0o755)
		os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module example.com/hello\n\ngo 1.22\n"), 0o644)
		os.WriteFile(filepath.Join(mod, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from the mount\") }\n"), 0o644)
		env := []string{"GOFLAGS=-mod=mod", "GOCACHE=" + t.TempDir(), "GOPROXY=off"}
		run(t, mod, env, goBin, "build", "-o", "hello", ".")
		if out := run(t, mod, nil, "./hello"); out != "hello from the mount\n" {
			t.Fatalf("the program built in the mount says %q", out)
		}
	})

	t.Run("sqlite", func(t *testing.T) {
		need(t, "sqlite3")
		db := r.path("data.db")
		var sql strings.Builder
		sql.WriteString("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);\nBEGIN;\n")
		for i := range 5000 {
			fmt.Fprintf(&sql, "INSERT INTO t(v) VALUES ('%s');\n", strings.Repeat(fmt.Sprint(i), 20))
		}
		sql.WriteString("COMMIT;\nDELETE FROM t WHERE id % 3 = 0;\nVACUUM;\n")
		cmd := exec.Command("/bin/sh", "-c", `exec sqlite3 "$0"`, db)
		cmd.Stdin = strings.NewReader(sql.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sqlite3: %v %s", err, out)
		}
		if out := run(t, "/", nil, "sqlite3", db, "PRAGMA integrity_check; SELECT count(*) FROM t;"); out != "ok\n3334\n" {
			t.Fatalf("sqlite3 says %q", out)
		}
	})

	// A tree with modes, times and a symlink, for cp -a and rsync.
	tree := func(t *testing.T) string {
		src := t.TempDir()
		os.MkdirAll(filepath.Join(src, "d/e"), 0o750)
		os.WriteFile(filepath.Join(src, "d/e/big.bin"), bytes.Repeat([]byte("0123456789abcdef"), 200000), 0o600)
		os.WriteFile(filepath.Join(src, "d/run.sh"), []byte("#!/bin/sh\n"), 0o755)
		os.WriteFile(filepath.Join(src, "d/empty"), nil, 0o644)
		os.Symlink("e/big.bin", filepath.Join(src, "d/link"))
		old := time.Date(2020, 2, 3, 4, 5, 6, 0, time.UTC)
		for _, p := range []string{"d/e/big.bin", "d/run.sh", "d/empty", "d/e", "d"} {
			os.Chtimes(filepath.Join(src, p), old, old)
		}
		ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(src, "d/link"), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
		return src
	}
	// same checks that two trees hold the same names, contents, modes,
	// link targets and modification times.
	same := func(t *testing.T, a, b string) {
		t.Helper()
		run(t, "/", nil, "diff", "-r", "--no-dereference", a, b)
		list := func(dir string) string {
			return run(t, dir, nil, "find", ".", "-printf", "%p %M %T@ %l\n")
		}
		la, lb := strings.Split(list(a), "\n"), strings.Split(list(b), "\n")
		sort.Strings(la)
		sort.Strings(lb)
		if strings.Join(la, "\n") != strings.Join(lb, "\n") {
			t.Fatalf("the trees differ in modes or times:\n%s\nwant:\n%s", strings.Join(lb, "\n"), strings.Join(la, "\n"))
		}
	}

	t.Run("cp -a", func(t *testing.T) {
		src := tree(t)
		run(t, "/", nil, "cp", "-a", filepath.Join(src, "d"), r.path("cp"))
		same(t, filepath.Join(src, "d"), r.path("cp"))
	})

	t.Run("rsync", func(t *testing.T) {
		need(t, "rsync")
		src := tree(t)
		run(t, "/", nil, "rsync", "-a", filepath.Join(src, "d")+"/", r.path("rsync"))
		same(t, filepath.Join(src, "d"), r.path("rsync"))
		// Again after a change: rsync writes a temporary file beside the
		// old one and renames it over.
		os.WriteFile(filepath.Join(src, "d/run.sh"), []byte("#!/bin/sh\necho changed\n"), 0o700)
		run(t, "/", nil, "rsync", "-a", "--delete", filepath.Join(src, "d")+"/", r.path("rsync"))
		same(t, filepath.Join(src, "d"), r.path("rsync"))
	})

	t.Run("vim", func(t *testing.T) {
		need(t, "vim")
		p := r.path("edit.txt")
		os.WriteFile(p, []byte("one\ntwo\n"), 0o640)
		// An editor's save: vim writes a backup, then the file, by rename
		// where it can.
		run(t, r.dir, []string{"HOME=" + t.TempDir()}, "vim", "-u", "NONE", "-N", "-i", "NONE", "-n", "-Es",
			"-c", "set backup writebackup backupcopy=no", "-c", "%s/two/2/", "-c", "wq", "edit.txt")
		got, err := os.ReadFile(p)
		if err != nil || string(got) != "one\n2\n" {
			t.Fatalf("after vim: %q %v", got, err)
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o640 {
			t.Fatalf("vim's save changed the mode: %v %v", st.Mode(), err)
		}
	})

	// What the programs wrote reaches another device whole.
	if err := r.m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	other := volume.OpenTest(t, root, tv.Cfg, tv.Key, "other", nil)
	for _, p := range []string{"/untar/a/b/x.bin", "/data.db", "/hello/main.go", "/cp/e/big.bin", "/rsync/run.sh", "/edit.txt"} {
		n := other.Tree().Lookup(p)
		if n == nil {
			continue // its subtest was skipped
		}
		local, err := os.ReadFile(r.path(p))
		if err != nil {
			t.Fatal(err)
		}
		if got := readVolume(t, other, p); !bytes.Equal(got, local) {
			t.Errorf("%s: the other device reads %d bytes, the mount %d", p, len(got), len(local))
		}
	}
}
