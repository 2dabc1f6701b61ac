package volume

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
)

// Export writes the tree t (from Tree or TreeAt), from the volume folder
// src down, into the local folder dst. Files are written under temporary
// names and renamed into place, so an interrupted export leaves no
// half-written file under a real name.
func (v *Volume) Export(ctx context.Context, t *Tree, src, dst string, prog *Progress) error {
	const op errors.Op = "dvpc export"
	src, err := clean(src)
	if err != nil {
		return errors.E(op, err)
	}
	if t.Lookup(src) == nil {
		return errors.E(op, errors.NotExist, src)
	}
	var dirs, files []*Node
	t.Walk(src, func(n *Node) error {
		if n.IsDir() {
			dirs = append(dirs, n)
		} else {
			files = append(files, n)
			prog.TotalBytes.Add(int64(n.Size))
		}
		return nil
	})
	prog.TotalFiles.Store(int64(len(files)))
	local := func(n *Node) string {
		rel, _ := filepath.Rel(src, n.Path)
		return filepath.Join(dst, filepath.FromSlash(rel))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(local(d), 0o700); err != nil {
			return errors.E(op, errors.IO, err)
		}
	}
	if err := v.exportFiles(ctx, files, local, prog); err != nil {
		return errors.E(op, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- { // children's times first
		d := dirs[i]
		os.Chmod(local(d), os.FileMode(d.Mode&0o7777)|0o700)
		if d.MTime != 0 {
			mt := time.Unix(0, d.MTime)
			os.Chtimes(local(d), mt, mt)
		}
	}
	return nil
}

func (v *Volume) exportFiles(ctx context.Context, files []*Node, local func(*Node) string, prog *Progress) error {
	jobs := make(chan *Node)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	// Writing many small files waits on the file system more than on the
	// CPU: a few workers a core keep both busy.
	for range 4 * runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range jobs {
				if err := v.exportFile(ctx, n, local(n)); err != nil {
					once.Do(func() { first = err })
				}
				prog.Files.Add(1)
				prog.Bytes.Add(int64(n.Size))
			}
		}()
	}
	for _, n := range files {
		if ctx.Err() != nil {
			break
		}
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

func (v *Volume) exportFile(ctx context.Context, n *Node, to string) error {
	if n.Op == journal.Symlink {
		err := os.Symlink(n.Target, to)
		if os.IsExist(err) {
			os.Remove(to)
			err = os.Symlink(n.Target, to)
		}
		if err != nil {
			return errors.E(errors.IO, to, err)
		}
		return nil
	}
	f, err := createTemp(filepath.Dir(to))
	if err != nil {
		return errors.E(errors.IO, to, err)
	}
	if err := v.writeFile(ctx, n, f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	mt := time.Unix(0, n.MTime)
	os.Chtimes(f.Name(), mt, mt)
	if err := rename(f.Name(), to); err != nil {
		os.Remove(f.Name())
		return errors.E(errors.IO, to, err)
	}
	return nil
}

// localFile is a file that export writes.
type localFile interface {
	io.WriterAt
	Chmod(perm uint32) error
	Close() error
	Name() string
}

// writeFile writes n's content and mode to f and closes it.
func (v *Volume) writeFile(ctx context.Context, n *Node, f localFile) error {
	if err := v.WriteAt(ctx, n, f); err != nil {
		return err
	}
	f.Chmod(n.Mode)
	if err := f.Close(); err != nil {
		return errors.E(errors.IO, f.Name(), err)
	}
	return nil
}

// partSize is how much of a large file one worker reads and writes at a time.
const partSize = 8 << 20

// WriteAt writes the content of the file node n to f, reading and opening
// the parts of a large file in parallel and writing each at its offset.
// Chunks are written whole, so f needs no buffer of its own. It reads
// from this PC's cache but does not fill it (see writeWith).
func (v *Volume) WriteAt(ctx context.Context, n *Node, f io.WriterAt) error {
	type part struct {
		off    int64
		chunks []journal.ChunkRef
	}
	var parts []part
	var off, size int64
	start := 0
	for i, c := range n.Chunks {
		size += int64(c.Size)
		if size >= partSize || i == len(n.Chunks)-1 {
			parts = append(parts, part{off, n.Chunks[start : i+1]})
			off, size, start = off+size, 0, i+1
		}
	}
	work := make(chan part)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(len(parts), runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bp := readBufs.Get().(*readBuf)
			defer readBufs.Put(bp)
			for p := range work {
				sub := *n
				sub.Change.Entry = &journal.Entry{Path: n.Path, Chunks: p.chunks}
				if _, err := v.writeWith(ctx, bp, &sub, io.NewOffsetWriter(f, p.off), false); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for _, p := range parts {
		work <- p
	}
	close(work)
	wg.Wait()
	return first
}
