package server

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mountSmallDisk mounts a tmpfs of the given size at dir, or skips the
// test where that is not allowed (not root, no mount).
func mountSmallDisk(t *testing.T, dir, size string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// Objects on a full disk: 507 disk_full, nothing partial left, what was
// stored stays whole, usage stays right, and once there is room puts
// work again.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	data := t.TempDir()
	mountSmallDisk(t, filepath.Join(data, "accounts"), "3m")
	ts := start(t, Config{Data: data, Signup: true})
	u := ts.signup("alice")
	obj := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB
	var stored []string
	var r reply
	for i := range 10 {
		name := "volumes/v/o" + strconv.Itoa(i)
		if r = u.put(name, obj); r.status != 204 {
			break
		}
		stored = append(stored, name)
	}
	want(t, "put onto a full disk", r, 507, codeDiskFull)
	if len(stored) == 0 {
		t.Fatal("nothing fitted")
	}
	noTemp(t, data)
	l := u.list("prefix=volumes/")
	if len(l.Objects) != len(stored) {
		t.Fatalf("listed %s, stored %v", names(l), stored)
	}
	for _, n := range stored {
		if r := u.get(n); !bytes.Equal(r.body, obj) {
			t.Fatalf("%s after the disk filled: %s", n, r)
		}
	}
	if a := u.info(); a.Used != int64(len(u.envelope)+len(stored)*len(obj)) {
		t.Fatalf("used %d", a.Used)
	}
	if !strings.Contains(ts.logs.String(), "disk full") {
		t.Fatal("the log does not say the disk is full")
	}
	want(t, "delete", u.del(stored[0]), 204, "")
	want(t, "put once there is room", u.put("volumes/v/again", obj), 204, "")
}
