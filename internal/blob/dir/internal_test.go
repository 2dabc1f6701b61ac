package dir

import (
	stderrors "errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

func newTestStore(t *testing.T) *Store {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestListReadsOnlyMatchingFolders checks that List("data/ab") reads the
// folder data and the folders in it that start with "ab", and no others.
func TestListReadsOnlyMatchingFolders(t *testing.T) {
	s := newTestStore(t)
	for _, name := range []string{"data/ab/1", "data/abc/2", "data/ac/3", "data/b/4", "index/x", "data.x"} {
		if err := s.Put(t.Context(), name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	var read []string
	s.onReadDir = func(dir string) { read = append(read, dir) }
	var names []string
	err := s.List(t.Context(), "data/ab", func(in blob.Info) error {
		names = append(names, in.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"data/ab/1", "data/abc/2"}; !slices.Equal(names, want) {
		t.Errorf("List = %q, want %q", names, want)
	}
	if want := []string{"data", "data/ab", "data/abc"}; !slices.Equal(read, want) {
		t.Errorf("List read folders %q, want %q", read, want)
	}
}

func TestValidPrefix(t *testing.T) {
	good := []string{"", "d", "d/", "d/a", "d/.", "d/..", ".", "..", "a.b/c-d_e/"}
	bad := []string{"/", "/d", "../", "d//", "d/./", "./", "d/a b", "é", "d\x00"}
	for _, p := range good {
		if !validPrefix(p) {
			t.Errorf("validPrefix(%q) = false", p)
		}
	}
	for _, p := range bad {
		if validPrefix(p) {
			t.Errorf("validPrefix(%q) = true", p)
		}
	}
}

func TestSweep(t *testing.T) {
	s := newTestStore(t)
	if err := s.Put(t.Context(), "data/.tmp-object", []byte("keep")); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(s.root, "data", tempPrefix+"old"+tempSuffix)
	fresh := filepath.Join(s.root, tempPrefix+"fresh"+tempSuffix)
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), filePerm); err != nil {
			t.Fatal(err)
		}
	}
	hourAgo := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	n, err := s.Sweep(10 * time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1, nil", n, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old temporary file survived: %v", err)
	}
	for _, p := range []string{fresh, filepath.Join(s.root, "data", ".tmp-object")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Sweep removed %s: %v", p, err)
		}
	}
}

func TestMapErr(t *testing.T) {
	tests := []struct {
		errno syscall.Errno
		kind  errors.Kind
	}{
		{syscall.ENOENT, errors.NotExist},
		{syscall.ENOTDIR, errors.NotExist},
		{syscall.ENOSPC, errors.IO},
		{syscall.EROFS, errors.IO},
		{syscall.EIO, errors.IO},
		{syscall.EDQUOT, errors.IO},
		{syscall.EACCES, errors.Permission},
		{syscall.EPERM, errors.Permission},
		{syscall.EBADF, errors.IO},
	}
	for _, tt := range tests {
		cause := &fs.PathError{Op: "open", Path: "/m/x", Err: tt.errno}
		err := mapErr("dir.Test", "x", cause)
		if k := errors.KindOf(err); k != tt.kind {
			t.Errorf("mapErr(%v) has kind %q, want %q", tt.errno, k, tt.kind)
		}
		if !stderrors.Is(err, tt.errno) {
			t.Errorf("mapErr(%v) = %v, does not unwrap to the errno", tt.errno, err)
		}
	}
	if mapErr("op", "x", nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}

func TestMapErrText(t *testing.T) {
	err := mapErr("dir.Put", "p", &fs.PathError{Op: "write", Path: "/m/p", Err: syscall.ENOSPC})
	want := "dir.Put: p: the mirror's disk is full: write /m/p: no space left on device"
	if err.Error() != want {
		t.Errorf("error text = %q, want %q", err.Error(), want)
	}
}

func TestSpan(t *testing.T) {
	tests := []struct{ size, off, length, want int64 }{
		{10, 0, -1, 10}, {10, 0, 5, 5}, {10, 8, 5, 2}, {10, 10, 1, 0},
		{10, 11, -1, 0}, {10, 3, 0, 0}, {10, 1, 1<<63 - 1, 9}, {0, 0, -1, 0},
	}
	for _, tt := range tests {
		if got := span(tt.size, tt.off, tt.length); got != tt.want {
			t.Errorf("span(%d, %d, %d) = %d, want %d", tt.size, tt.off, tt.length, got, tt.want)
		}
	}
}

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		".tmp-123~": true, ".tmp-~": false, ".tmp-123": false, "x.tmp-1~": false, ".tmp-a/b~": true,
	} {
		if got := isTemp(name); got != want {
			t.Errorf("isTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// ListAfter lists exactly the names after a given one, for any after (a
// listed name, a missing one, a folder's name, names that sort between
// siblings), and does not read the folders that lie wholly before it.
func TestListAfter(t *testing.T) {
	s := newTestStore(t)
	names := []string{"a", "data/ab/1", "data/ab/2", "data/ab-x", "data/ab.y", "data/abc/3", "data/ac/4",
		"data/b/c/5", "data/b/d", "data.x", "index/x", "z"}
	for _, name := range names {
		if err := s.Put(t.Context(), name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	afters := append([]string{"", "0", "data", "data/", "data/ab", "data/ab/", "data/ab/1", "data/ab/15", "data/ab-",
		"data/abc", "data/abc/3", "data/b", "data/b/c", "data/b/c/5", "data/zz", "zz"}, names...)
	for _, prefix := range []string{"", "data/", "data/ab"} {
		for _, after := range afters {
			var want []string
			for _, n := range names {
				if n > after && len(n) >= len(prefix) && n[:len(prefix)] == prefix {
					want = append(want, n)
				}
			}
			slices.Sort(want)
			var got []string
			err := s.ListAfter(t.Context(), prefix, after, func(in blob.Info) error {
				got = append(got, in.Name)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("ListAfter(%q, %q) = %q, want %q", prefix, after, got, want)
			}
		}
	}
	var read []string
	s.onReadDir = func(dir string) { read = append(read, dir) }
	if err := s.ListAfter(t.Context(), "data/", "data/b/c/5", func(blob.Info) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"data", "data/b", "data/b/c"}; !slices.Equal(read, want) {
		t.Errorf("ListAfter read folders %q, want %q", read, want)
	}
}
