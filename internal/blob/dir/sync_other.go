//go:build !unix

package dir

// syncDir does nothing where a folder cannot be opened to be synced
// (Windows, where NTFS journals the rename itself).
func syncDir(dir string) error { return nil }
