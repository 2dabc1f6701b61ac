package mount

// Lookups returns how many names the mount has looked up in its folders,
// for the kernel or for a listing that gave attributes with names.
func (m *Mounted) Lookups() int64 { return m.fs.lookups.Load() }
