package volume

import (
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// walkFunc is called for each file and folder walkDir visits, with its
// Lstat, or with the error that kept it from being read. Returning
// filepath.SkipDir for a folder skips what it holds.
type walkFunc func(local string, info fs.FileInfo, err error) error

// walkDir visits root and everything under it in lexical order, as
// filepath.WalkDir does (symbolic links are not followed), with each
// entry's Lstat already made. The entries of a folder are stat'ed on
// several cores at once: for an unchanged tree, the stat calls were most
// of an import's time.
func walkDir(root string, fn walkFunc) error {
	info, err := os.Lstat(root)
	if err != nil {
		err = fn(root, nil, err)
	} else {
		err = walkOne(root, info, fn)
	}
	if err == filepath.SkipDir || err == filepath.SkipAll {
		return nil
	}
	return err
}

func walkOne(local string, info fs.FileInfo, fn walkFunc) error {
	if err := fn(local, info, nil); err != nil || !info.IsDir() {
		if err == filepath.SkipDir && info.IsDir() {
			return nil
		}
		return err
	}
	names, infos, errs, err := readDirStat(local)
	if err != nil {
		// As filepath.WalkDir: the folder a second time, with the error.
		if err := fn(local, info, err); err != nil {
			if err == filepath.SkipDir {
				return nil
			}
			return err
		}
	}
	for i, name := range names {
		p := filepath.Join(local, name)
		if errs[i] != nil {
			if err := fn(p, nil, errs[i]); err != nil && err != filepath.SkipDir {
				return err
			}
			continue
		}
		if err := walkOne(p, infos[i], fn); err != nil {
			if err == filepath.SkipDir {
				break // as filepath.WalkDir: a file skips the rest of its folder
			}
			return err
		}
	}
	return nil
}

// readDirStat returns the sorted names in dir and the Lstat of each.
func readDirStat(dir string) ([]string, []fs.FileInfo, []error, error) {
	d, names, err := openDir(dir)
	if d == nil {
		return nil, nil, nil, err
	}
	defer d.close()
	slices.Sort(names)
	infos := make([]fs.FileInfo, len(names))
	errs := make([]error, len(names))
	stat := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			infos[i], errs[i] = d.lstat(names[i])
		}
	}
	// A goroutine costs about what two stat calls do: split only folders
	// with enough entries to pay for it.
	const perWorker = 8
	workers := min(runtime.GOMAXPROCS(0), len(names)/perWorker)
	if workers < 2 {
		stat(0, len(names))
		return names, infos, errs, err
	}
	var wg sync.WaitGroup
	step := (len(names) + workers - 1) / workers
	for lo := step; lo < len(names); lo += step {
		wg.Add(1)
		go func(lo int) {
			defer wg.Done()
			stat(lo, min(lo+step, len(names)))
		}(lo)
	}
	stat(0, step)
	wg.Wait()
	return names, infos, errs, err
}
