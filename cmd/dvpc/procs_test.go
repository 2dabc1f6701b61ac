package main

import "testing"

// TestProcs: a mount (dvpc mount, dvpc up) runs one goroutine more at
// once than the CPUs, every other command as many as the CPUs.
func TestProcs(t *testing.T) {
	for _, c := range []struct {
		argv []string
		n    int
		want int
	}{
		{[]string{"mount", "/mnt"}, 2, 3},
		{[]string{"up"}, 1, 2},
		{[]string{"up"}, 8, 9},
		{[]string{"serve", "--addr", ":0"}, 2, 2},
		{[]string{"import", "/src"}, 2, 2},
		{[]string{"--help"}, 4, 4},
		{nil, 2, 2},
	} {
		if got := procs(c.argv, c.n); got != c.want {
			t.Errorf("%q on %d CPUs: %d, want %d", c.argv, c.n, got, c.want)
		}
	}
}
