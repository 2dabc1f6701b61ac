//go:build unix

package volume

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// dirHandle is an open folder whose entries are stat'ed relative to it:
// the kernel then looks up one name, not the whole path, for each.
type dirHandle struct {
	f    *os.File
	fd   int
	path string
}

// openDir opens the folder path and lists its names. It returns a nil
// handle when the folder cannot be opened; names may be partial with an
// error. The folder is opened with the raw system call, which spares the
// runtime's attempt to add it to its poller (a walk opens thousands).
func openDir(path string) (*dirHandle, []string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	d := &dirHandle{f: os.NewFile(uintptr(fd), path), fd: fd, path: path}
	names, err := d.f.Readdirnames(-1)
	return d, names, err
}

func (d *dirHandle) close() { d.f.Close() }

// lstat is os.Lstat of the entry name.
func (d *dirHandle) lstat(name string) (fs.FileInfo, error) {
	s := &statInfo{name: name}
	for {
		err := unix.Fstatat(d.fd, name, &s.st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "lstat", Path: filepath.Join(d.path, name), Err: err}
		}
		return s, nil
	}
}

// statInfo is the fs.FileInfo of a stat call, as os.Lstat makes it.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return &s.st }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }

func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
