package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for dvpc, so crash tests can kill
// a real process.
func TestMain(m *testing.M) {
	if os.Getenv("DVPC_TEST_RUN_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		code := Main(ctx, os.Args[1:], OSEnv())
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func dirSize(t *testing.T, root string) int64 {
	var n int64
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		// Temporary files that a killed writer left are garbage for
		// 'dvpc import' to sweep later, not stored data.
		if err == nil && !fi.IsDir() && !strings.Contains(p, ".tmp-") {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func countFiles(root, under string) int {
	n := 0
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, under) {
			n++
		}
		return nil
	})
	return n
}

// randomTree writes 12 files of 4 MiB of random data and returns the
// folder and the total size.
func randomTree(t *testing.T) (string, int64) {
	src := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	var total int64
	for i := range 12 {
		b := make([]byte, 4<<20+i*1000)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		total += int64(len(b))
		name := filepath.Join(src, "dir"+string(rune('a'+i%3)), "file"+string(rune('a'+i)))
		os.MkdirAll(filepath.Dir(name), 0o755)
		os.WriteFile(name, b, 0o644)
	}
	return src, total
}

// startImport runs 'dvpc import src /' as a separate process and returns
// once the mirror holds at least packs packs.
func startImport(t *testing.T, a *pc, mirror, src string, packs int) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(os.Args[0], "import", src, "/")
	cmd.Env = []string{"DVPC_TEST_RUN_MAIN=1", "HOME=" + a.home, "XDG_RUNTIME_DIR=" + a.env["XDG_RUNTIME_DIR"], "DVPC_PASSPHRASE=" + a.env["DVPC_PASSPHRASE"]}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for countFiles(mirror, "/data/") < packs && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // polling the mirror, not synchronising
	}
	return cmd, &stderr
}

// Ctrl-C during an import commits the files finished so far, says so, and
// exits non-zero; the next run does the rest.
func TestImportCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	src, _ := randomTree(t)
	mirror := filepath.Join(t.TempDir(), "m")
	a := newPC(t)
	a.ok("init", mirror)
	cmd, stderr := startImport(t, a, mirror, src, 1)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err == nil {
		t.Skip("the import finished before the interrupt arrived")
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("stderr after Ctrl-C: %q", stderr.String())
	}
	found := strings.Count(a.ok("find", "/"), "/file")
	if found == 0 {
		t.Fatal("no finished file was committed before exiting")
	}
	out := a.ok("import", src, "/", "--json")
	if !strings.Contains(out, fmt.Sprintf(`"unchanged":%d`, found+3)) {
		t.Fatalf("resume after Ctrl-C: %s (with %d files committed before)", out, found)
	}
}

// An import killed with SIGKILL at several points leaves the volume
// consistent, and the next run finishes without uploading again what was
// already stored.
func TestImportSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	src, total := randomTree(t)
	for _, killAfterPacks := range []int{1, 2} {
		mirror := filepath.Join(t.TempDir(), "m")
		a := newPC(t)
		a.ok("init", mirror)
		cmd, _ := startImport(t, a, mirror, src, killAfterPacks)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if n := countFiles(mirror, ".tmp-"); n > 1 {
			t.Logf("%d temporary files left by the kill", n)
		}
		// The volume opens and is consistent after the crash.
		a.ok("ls", "/")
		a.ok("check")
		before := dirSize(t, filepath.Join(mirror, "volumes"))
		a.ok("import", src, "/")
		after := dirSize(t, filepath.Join(mirror, "volumes"))
		for i := range 12 {
			p := "/dir" + string(rune('a'+i%3)) + "/file" + string(rune('a'+i))
			want, _ := os.ReadFile(filepath.Join(src, p))
			if got := a.ok("cat", p); got != string(want) {
				t.Fatalf("kill after %d packs: %s differs after resume", killAfterPacks, p)
			}
		}
		// Everything is stored once: the mirror holds about one copy of the
		// (incompressible) data, not the part before the kill twice.
		if after > total+total/10 {
			t.Fatalf("kill after %d packs: mirror holds %d bytes for %d of data (before resume %d): re-uploaded", killAfterPacks, after, total, before)
		}
		if !strings.Contains(a.ok("check", "--read-data"), "no problems") {
			t.Fatal("check after resume found problems")
		}
	}
}
