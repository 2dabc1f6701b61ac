package s3

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/errors"
)

func TestStore(t *testing.T) {
	srv := startServer(t)
	var p prefixes
	blobtest.TestStore(t, func(t *testing.T) blob.Store { return srv.open(t, p.next()) })
}

func TestWrongHashStoresNothing(t *testing.T) {
	srv := startServer(t)
	s := srv.open(t, "h")
	other := sha256.Sum256([]byte("promised"))
	name := "data/" + hex.EncodeToString(other[:])
	if err := s.Put(t.Context(), name, []byte("sent")); !errors.Is(err, errors.Corrupt) {
		t.Fatalf("Put under another hash: %v, want Corrupt", err)
	}
	// Look past the store's prefix: nothing at all reached the bucket.
	root := srv.open(t, "")
	var keys []string
	root.List(t.Context(), "", func(in blob.Info) error { keys = append(keys, in.Name); return nil })
	if len(keys) != 0 {
		t.Fatalf("after a refused Put the bucket holds %q", keys)
	}
}

func TestErrors(t *testing.T) {
	srv := startServer(t)
	ctx := t.Context()

	bad := srv.config("x")
	bad.SecretKey = "not-the-secret"
	_, err := Open(ctx, bad)
	if !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), EnvSecretKey) {
		t.Errorf("Open with a wrong secret: %v, want Permission naming %s", err, EnvSecretKey)
	}

	t.Logf("wrong secret: %v", err)
	missing := srv.config("x")
	missing.Bucket = "no-such-bucket"
	if _, err = Open(ctx, missing); !errors.Is(err, errors.NotExist) {
		t.Errorf("Open of a missing bucket: %v, want NotExist", err)
	}

	s := srv.open(t, "x")
	if err := s.Put(ctx, "before", []byte("x")); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Process.Kill()
	srv.cmd.Process.Wait()
	_, err = s.Get(ctx, "before", 0, -1)
	if !errors.Is(err, errors.Unavailable) || !strings.Contains(err.Error(), srv.addr) {
		t.Errorf("Get from a stopped server: %v, want Unavailable naming %s", err, srv.addr)
	}
	t.Logf("stopped server: %v", err)
	if err := s.Put(ctx, "after", []byte("x")); !errors.Is(err, errors.Unavailable) {
		t.Errorf("Put to a stopped server: %v, want Unavailable", err)
	}
	_, err = Open(ctx, srv.config("x"))
	if !errors.Is(err, errors.Unavailable) || !strings.Contains(err.Error(), srv.addr) {
		t.Errorf("Open of a stopped server: %v, want Unavailable naming %s", err, srv.addr)
	}
}

func TestNoCredentials(t *testing.T) {
	t.Setenv(EnvAccessKey, "")
	t.Setenv(EnvSecretKey, "")
	c, err := Parse("s3://127.0.0.1:1/bucket")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), c)
	if !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), EnvAccessKey) {
		t.Fatalf("Open with no credentials: %v, want Permission naming %s", err, EnvAccessKey)
	}
}
