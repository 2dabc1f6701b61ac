package dir

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// List calls fn for each object whose name starts with prefix, in lexical
// order of name. It reads only the folders that can hold such names: for
// "data/ab" that is the folder data, and the folders in it whose names
// start with "ab". A prefix no valid name can start with lists nothing.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	return s.ListAfter(ctx, prefix, "", fn)
}

// ListAfter is List of the names that sort after the name after. It skips
// the folders whose names all sort before it without reading them, so a
// listing in pages costs what the pages hold, not what precedes them.
func (s *Store) ListAfter(ctx context.Context, prefix, after string, fn func(blob.Info) error) error {
	const op errors.Op = "dir.List"
	if err := ctx.Err(); err != nil {
		return errors.E(op, prefix, err)
	}
	if !validPrefix(prefix) {
		return nil
	}
	parent, partial := "", prefix
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		parent, partial = prefix[:i], prefix[i+1:]
	}
	w := &walker{ctx: ctx, op: op, root: s.root, fn: fn, after: after, onRead: s.onReadDir}
	return w.walk(parent, partial)
}

// validPrefix reports whether some valid object name starts with prefix:
// whether its complete elements form a valid name and its last, partial
// element holds only the bytes a name may hold.
func validPrefix(prefix string) bool {
	if len(prefix) > blob.MaxNameLen {
		return false
	}
	i := strings.LastIndexByte(prefix, '/')
	if i >= 0 && blob.ValidName(prefix[:i]) != nil {
		return false
	}
	partial := prefix[i+1:]
	return partial == "" || partial == "." || partial == ".." || validElem(partial)
}

// validElem reports whether base is a valid element of an object name.
func validElem(base string) bool {
	if base == "" || base == "." || base == ".." || len(base) > blob.MaxElemLen {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// walker lists a tree of folders in lexical order of the object names.
type walker struct {
	ctx   context.Context
	op    errors.Op
	root  string
	fn    func(blob.Info) error
	after string // list only names that sort after this one

	onRead func(dir string)
}

// entry is a file or folder in a folder, with the key it sorts by: a
// folder's name followed by a slash, since its objects are "name/...".
type entry struct {
	name string
	key  string
	dir  bool
	link bool // a symbolic link, followed
	de   os.DirEntry
}

// walk lists the objects in folder dir (a slash-separated name relative to
// the root, "" for the root) whose file names start with partial, and
// everything below the folders that do. Symbolic links are followed; a
// loop of them ends where names grow longer than any valid name.
func (w *walker) walk(dir, partial string) error {
	if err := w.ctx.Err(); err != nil {
		return errors.E(w.op, dir, err)
	}
	if len(dir) > blob.MaxNameLen {
		return nil
	}
	entries, err := w.read(dir, partial)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.name
		if dir != "" {
			name = dir + "/" + name
		}
		switch {
		case w.after != "" && !e.dir && name <= w.after:
			// listed on an earlier page
		case w.after != "" && e.dir && name+"/" < w.after && !strings.HasPrefix(w.after, name+"/"):
			// every name in the folder sorts before after
		case e.dir:
			err = w.walk(name, "")
		default:
			err = w.file(name, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// read returns the entries of folder dir that can be or hold objects and
// start with partial, sorted by key. A folder that is missing, or is not a
// folder, holds nothing.
func (w *walker) read(dir, partial string) ([]entry, error) {
	if w.onRead != nil {
		w.onRead(dir)
	}
	path := filepath.Join(w.root, filepath.FromSlash(dir))
	des, err := readDir(path)
	if err != nil {
		return nil, w.skipMissing(dir, err)
	}
	entries := make([]entry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if !strings.HasPrefix(name, partial) || !validElem(name) {
			continue // temporary files and strangers
		}
		if e, ok := classify(path, de); ok {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	return entries, nil
}

// readDir returns the entries of the folder path, unsorted.
func readDir(path string) ([]os.DirEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

// classify makes an entry of de, a file or folder in the folder path,
// following a symbolic link. It reports false for anything that is neither
// a regular file nor a folder, such as a broken link.
func classify(path string, de os.DirEntry) (entry, bool) {
	e := entry{name: de.Name(), key: de.Name(), de: de}
	typ := de.Type()
	if typ&fs.ModeSymlink != 0 {
		fi, err := os.Stat(filepath.Join(path, e.name))
		if err != nil {
			return e, false
		}
		typ, e.link = fi.Mode().Type(), true
	}
	switch {
	case typ.IsDir():
		e.key, e.dir = e.name+"/", true
		return e, true
	case typ.IsRegular():
		return e, true
	}
	return e, false
}

// file calls fn for the object name, unless it vanished since its folder
// was read.
func (w *walker) file(name string, e entry) error {
	var fi fs.FileInfo
	var err error
	if e.link {
		fi, err = os.Stat(filepath.Join(w.root, filepath.FromSlash(name)))
	} else {
		fi, err = e.de.Info()
	}
	if err != nil {
		return w.skipMissing(name, err)
	}
	return w.fn(blob.Info{Name: name, Size: fi.Size(), ModTime: fi.ModTime()})
}

// skipMissing returns nil if err says the file or folder is not there (or
// is not a folder), and the mapped error otherwise.
func (w *walker) skipMissing(name string, err error) error {
	mapped := mapErr(w.op, name, err)
	if errors.KindOf(mapped) == errors.NotExist {
		return nil
	}
	return mapped
}
