//go:build unix

package volume

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// walkDir visits what filepath.WalkDir visits, in the same order, with the
// same Lstat, and skips what it skips; folders large enough to be stat'ed
// on several cores included.
func TestWalkDirAgreesWithWalkDir(t *testing.T) {
	files := map[string][]byte{"a.txt": []byte("a"), "b/c/d.txt": []byte("dd"), "skip/x": nil, "skip/y/z": nil}
	for i := range 50 {
		files[fmt.Sprintf("many/f%02d", 49-i)] = make([]byte, i)
		files[fmt.Sprintf("many/sub%d/g", i%3)] = []byte("g")
	}
	root := writeTree(t, files)
	if err := os.Symlink("b", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	// Modes of every kind the walk meets, as os.Lstat gives them.
	if err := syscall.Mkfifo(filepath.Join(root, "many", "fifo"), 0o640); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]fs.FileMode{"a.txt": 0o4755 | fs.ModeSetuid | fs.ModeSetgid, "b": 0o1777 | fs.ModeSticky} {
		if err := os.Chmod(filepath.Join(root, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	line := func(p string, info fs.FileInfo) string {
		return fmt.Sprintf("%s %v %d %v %s %v", p, info.Mode(), info.Size(), info.IsDir(), info.Name(), info.ModTime())
	}
	var want []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.IsDir() && d.Name() == "skip" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, line(p, info))
		return nil
	})
	var got []string
	err := walkDir(root, func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if info.IsDir() && filepath.Base(p) == "skip" {
			return filepath.SkipDir
		}
		got = append(got, line(p, info))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 60 || !slices.Equal(got, want) {
		t.Fatalf("walkDir visited\n%q\nfilepath.WalkDir\n%q", got, want)
	}
	// A file that vanished between the listing and its stat is reported,
	// and the walk goes on.
	var errs int
	walkDir(filepath.Join(root, "nothing-here"), func(p string, info fs.FileInfo, err error) error {
		if err != nil {
			errs++
		}
		return nil
	})
	if errs != 1 {
		t.Fatalf("a missing root gave %d errors, want 1", errs)
	}
}
