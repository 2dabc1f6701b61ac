package volume

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/keys"
)

// TestVolume is a volume made for tests: cheap key stretching, one device.
type TestVolume struct {
	*Volume
	Root       blob.Store
	Cfg        *Config
	Key        keys.Key
	Passphrase []byte
}

// NewTest makes a new account and volume on root and opens it as a new
// device named name, with its local state in a temporary folder.
func NewTest(t testing.TB, root blob.Store, name string, now func() time.Time) *TestVolume {
	t.Helper()
	ctx := context.Background()
	pass := []byte("test passphrase")
	cfg, vk, err := InitMirror(ctx, root, pass, keys.TestParams(), "default", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &TestVolume{Volume: OpenTest(t, root, cfg, vk, name, now), Root: root, Cfg: cfg, Key: vk, Passphrase: pass}
}

// OpenTest opens an existing volume as a new device named name.
func OpenTest(t testing.TB, root blob.Store, cfg *Config, vk keys.Key, name string, now func() time.Time) *Volume {
	t.Helper()
	ctx := context.Background()
	id := NewIdentity(name)
	if err := Register(ctx, root, cfg, vk, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	v, err := Open(ctx, root, cfg, vk, id, Options{StateDir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func osWriteFile(name, text string) error { return os.WriteFile(name, []byte(text), 0o644) }
