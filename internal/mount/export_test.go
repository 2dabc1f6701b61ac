package mount

// Lookups returns how many names the mount has looked up in its folders,
// for the kernel or for a listing that gave attributes with names.
func (m *Mounted) Lookups() int64 { return m.fs.lookups.Load() }

// Streaming reports whether a large file is being written front to back.
func (m *Mounted) Streaming() bool { return m.fs.streaming() }
