package volume

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/pack"
)

// Progress counts the work of a long operation. Its fields are updated
// atomically while the operation runs; read them with Load.
type Progress struct {
	Files, TotalFiles atomic.Int64
	Bytes, TotalBytes atomic.Int64
	Stored            atomic.Int64 // bytes written to the mirror
}

// ImportResult says what an import did.
type ImportResult struct {
	Changed, Unchanged int     // files and folders
	Skipped            []error // items that could not be imported
}

// item is one thing found under the import source.
type item struct {
	local string
	dest  string
	info  fs.FileInfo
}

// Batches bound how much an import holds before committing, so an
// interrupted import loses at most one batch of work.
const (
	batchBytes = 512 << 20
	batchFiles = 20000
)

// Import adds the tree under the local folder src to the volume folder dest.
// Files whose size, time and mode match what the volume holds are not read.
// It commits in batches; run again after an interruption, it skips what was
// committed and reuses chunks already uploaded.
func (v *Volume) Import(ctx context.Context, src, dest string, prog *Progress) (*ImportResult, error) {
	const op errors.Op = "dvpc import"
	dest, err := clean(dest)
	if err != nil {
		return nil, errors.E(op, err)
	}
	if prog == nil {
		prog = &Progress{}
	}
	if _, err := v.RecoverPacks(ctx); err != nil {
		return nil, errors.E(op, err)
	}
	res := &ImportResult{}
	items, err := v.scan(src, dest, v.Tree, res)
	t := v.Tree()
	if err != nil {
		return nil, errors.E(op, err)
	}
	for _, it := range items {
		if it.info.Mode().IsRegular() {
			prog.TotalBytes.Add(it.info.Size())
		}
	}
	prog.TotalFiles.Store(int64(len(items)))
	// The writer outlives an interruption (Ctrl-C cancels ctx), so that
	// the files finished by then are committed and not read again.
	wctx := context.WithoutCancel(ctx)
	w := v.NewWriter(wctx)
	defer w.Close()
	var batch []item
	var size int64
	flush := func() error {
		err := v.importBatch(ctx, w, t, batch, prog, res)
		batch, size = batch[:0], 0
		cerr := w.Commit(wctx)
		prog.Stored.Store(w.Stored())
		switch {
		case err == nil:
			return cerr
		case cerr == nil:
			return err
		}
		return errors.Join(cerr, err)
	}
	for _, it := range items {
		batch = append(batch, it)
		size += it.info.Size()
		if size >= batchBytes || len(batch) >= batchFiles {
			if err := flush(); err != nil {
				return res, errors.E(op, err)
			}
		}
	}
	if err := flush(); err != nil {
		return res, errors.E(op, err)
	}
	return res, nil
}

// scan walks src and returns the items that differ from the tree. The
// walk runs ahead on a goroutine of its own while the tree is merged and
// compared with what it found: for an unchanged tree those are most of
// an import's time, and they need a core each.
func (v *Volume) scan(src, dest string, tree func() *Tree, res *ImportResult) ([]item, error) {
	root, err := os.Stat(src)
	if err != nil {
		return nil, errors.E(errors.NotExist, src, err)
	}
	if !root.IsDir() {
		return nil, errors.E(errors.NotDir, src, errors.Str("is not a folder: use 'dvpc put' for one file"))
	}
	type found struct {
		it   item
		skip error // the file is skipped for this reason
	}
	const batch = 256
	ch := make(chan []found, 16)
	var walkErr error
	go func() {
		defer close(ch)
		var b []found
		walkErr = walkDir(src, func(local string, info fs.FileInfo, err error) error {
			if len(b) == batch {
				ch <- b
				b = make([]found, 0, batch)
			}
			if err != nil {
				b = append(b, found{skip: errors.E(errors.IO, local, err)})
				return nil
			}
			rel, _ := filepath.Rel(src, local)
			if rel == "." && dest == "/" {
				return nil // the root folder has no entry of its own
			}
			p, err := journal.CleanPath(path.Join(dest, filepath.ToSlash(rel)))
			if err != nil {
				b = append(b, found{skip: errors.E(local, err)})
				if info.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !info.Mode().IsRegular() && !info.IsDir() && info.Mode()&fs.ModeSymlink == 0 {
				return nil // devices, sockets, pipes: not files
			}
			b = append(b, found{it: item{local: local, dest: p, info: info}})
			return nil
		})
		if len(b) > 0 {
			ch <- b
		}
	}()
	t := tree()
	var items []item
	for b := range ch {
		for _, f := range b {
			switch {
			case f.skip != nil:
				res.Skipped = append(res.Skipped, f.skip)
			case unchanged(t.Lookup(f.it.dest), f.it.info, f.it.local):
				res.Unchanged++
			default:
				items = append(items, f.it)
			}
		}
	}
	return items, walkErr
}

// unchanged reports whether n already holds what info describes.
func unchanged(n *Node, info fs.FileInfo, local string) bool {
	if n == nil || n.Mode != uint32(info.Mode().Perm()) && n.Version() != (journal.Version{}) {
		return false
	}
	switch {
	case info.IsDir():
		return n.IsDir()
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(local)
		return err == nil && n.Op == journal.Symlink && n.Target == target
	default:
		return n.Op == journal.Put && n.Size == uint64(info.Size()) && n.MTime == info.ModTime().UnixNano()
	}
}

// importBatch stores the items of one batch with parallel workers and adds
// their changes to w.
func (v *Volume) importBatch(ctx context.Context, w *Writer, t *Tree, items []item, prog *Progress, res *ImportResult) error {
	// Folders first, in order, so they precede their contents.
	for _, it := range items {
		if it.info.IsDir() {
			w.Add(journal.Entry{Op: journal.Mkdir, Path: it.dest, Base: base(t, it.dest),
				Mode: uint32(it.info.Mode().Perm()), MTime: it.info.ModTime().UnixNano()})
			res.Changed++
			prog.Files.Add(1)
		}
	}
	jobs := make(chan item)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	workers := max(2, runtime.GOMAXPROCS(0))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A worker's chunker cuts all its files: a new one per file
			// derived its gear table and grew its buffer to twice the
			// largest chunk, a tenth of an import's CPU.
			c := v.newChunker(nil)
			for it := range jobs {
				e, err := v.importFile(ctx, w, c, it, prog)
				mu.Lock()
				switch {
				case err == nil:
					e.Base = base(t, it.dest)
					w.Add(e)
					res.Changed++
				case errors.As(err, new(skipError)):
					res.Skipped = append(res.Skipped, err) // unreadable, or vanished
				case firstErr == nil:
					firstErr = err
				}
				mu.Unlock()
				prog.Files.Add(1)
			}
		}()
	}
	for _, it := range items {
		if it.info.IsDir() {
			continue
		}
		if ctx.Err() != nil || w.Err() != nil {
			break // interrupted, or the mirror refuses writes
		}
		jobs <- it
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// skipError is a problem with one local file (unreadable, vanished): the
// import skips the file, names it, and goes on.
type skipError struct{ error }

func (e skipError) Unwrap() error { return e.error }

// importFile stores one file or symlink and returns its change (without a
// base).
func (v *Volume) importFile(ctx context.Context, w *Writer, c *chunk.Chunker, it item, prog *Progress) (journal.Entry, error) {
	e := journal.Entry{Path: it.dest, Mode: uint32(it.info.Mode().Perm()), MTime: it.info.ModTime().UnixNano()}
	if it.info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(it.local)
		if err != nil {
			return e, skipError{errors.E(errors.IO, it.local, err)}
		}
		e.Op, e.Target = journal.Symlink, target
		return e, nil
	}
	f, err := openRead(it.local)
	if err != nil {
		return e, skipError{errors.E(errors.IO, it.local, err)}
	}
	defer f.Close()
	e.Op = journal.Put
	c.Reset(f)
	defer c.Reset(nil) // not keeping the file
	refs, size, err := v.storeStream(ctx, w, c, prog)
	if err != nil {
		return e, errors.E(it.local, err)
	}
	e.Chunks, e.Size = refs, size
	return e, nil
}

// storeStream stores what the chunker c cuts, sealing chunks in parallel,
// and returns the chunk list in order. Each chunk is copied before it is
// stored, so c may be Reset as soon as it returns.
func (v *Volume) storeStream(ctx context.Context, w *Writer, c *chunk.Chunker, prog *Progress) ([]journal.ChunkRef, uint64, error) {
	var refs []journal.ChunkRef
	var size uint64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			wg.Wait()
			return nil, 0, err
		}
		data, err := c.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			wg.Wait()
			return nil, 0, skipError{errors.E(errors.IO, err)}
		}
		mu.Lock()
		refs = append(refs, journal.ChunkRef{})
		mu.Unlock()
		size += uint64(len(data))
		sl := <-w.slots
		sl.chunk = append(pack.Room(sl.chunk[:0], int(v.cfg.Chunk.Max)), data...)
		wg.Add(1)
		go func(i int, sl *slot) {
			defer wg.Done()
			ref, err := w.storeChunk(sl.chunk, sl)
			prog.Bytes.Add(int64(len(sl.chunk)))
			w.slots <- sl
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			refs[i] = ref
		}(i, sl)
	}
	wg.Wait()
	return refs, size, firstErr
}
