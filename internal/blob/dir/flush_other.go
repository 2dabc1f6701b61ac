//go:build !linux

package dir

import "os"

func startWriteback(*os.File, int64, int64) {}
