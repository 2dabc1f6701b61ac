package mem_test

import (
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/blob/mem"
)

func TestStore(t *testing.T) {
	blobtest.TestStore(t, func(*testing.T) blob.Store { return mem.New() })
}

func BenchmarkStore(b *testing.B) {
	blobtest.BenchmarkStore(b, func(*testing.B) blob.Store { return mem.New() })
}
