//go:build race

package cache

// raceEnabled: the race detector makes sync.Pool drop a share of what
// it is given, on purpose.
const raceEnabled = true
