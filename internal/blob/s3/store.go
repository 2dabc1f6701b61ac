package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Store is a mirror on an S3 bucket. It implements blob.Store,
// blob.Streamer and blob.RangeReader, and is safe for concurrent use.
type Store struct {
	cfg Config
	c   *client
}

var (
	_ blob.Store       = (*Store)(nil)
	_ blob.Streamer    = (*Store)(nil)
	_ blob.RangeReader = (*Store)(nil)
)

// maxPut is the largest object one PUT may carry.
const maxPut = 5 << 30

// Open connects to the store cfg names and checks that its bucket exists:
// an endpoint that cannot be reached is errors.Unavailable, credentials
// refused errors.Permission, a missing bucket errors.NotExist. If cfg has
// no credentials, they are read from the environment (see FromEnv).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	const op errors.Op = "s3.Open"
	if _, err := parse(cfg.String()); err != nil {
		return nil, errors.E(op, errors.Invalid, err)
	}
	if cfg.AccessKey == "" && cfg.SecretKey == "" {
		cfg.FromEnv(os.Getenv)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.E(op, errors.Permission, errors.Str("no credentials for the S3 store "+cfg.String()+
			": set "+EnvAccessKey+" and "+EnvSecretKey))
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	s := &Store{cfg: cfg, c: newClient(cfg)}
	ok, region, err := s.c.headBucket(ctx)
	if cfg.Region == "" && validRegion(region) && region != s.c.sig.region {
		// A bucket of another region than the one guessed: AWS says
		// which in its refusal.
		s.c.setRegion(region)
		ok, _, err = s.c.headBucket(ctx)
	}
	if err != nil {
		return nil, s.mapErr(ctx, op, "", err)
	}
	if !ok {
		return nil, errors.E(op, errors.NotExist, errors.Str("the bucket "+cfg.Bucket+" does not exist on the S3 store "+
			cfg.Endpoint+": create it first"))
	}
	return s, nil
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// key is the S3 key of a valid object name.
func (s *Store) key(name string) string { return s.cfg.Prefix + name }

// Put stores data under name in one PUT. A name that promises a hash is
// checked first, and the PUT is signed with the SHA-256 of data, which the
// service verifies. See blob.Store.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	const op errors.Op = "s3.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if err := checkSum(op, name, sum); err != nil {
		return err
	}
	return s.put(ctx, op, name, bytes.NewReader(data), int64(len(data)), sum)
}

// checkSum refuses bytes whose SHA-256 is not the one name promises.
func checkSum(op errors.Op, name string, sum [32]byte) error {
	if want, ok := blob.Sum(name); ok && want != sum {
		return errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	return nil
}

// put sends size bytes of body, whose SHA-256 is sum, under name. The
// body is read at offsets, so that a failed request can be tried again;
// the signature carries sum, which the service checks against what it
// got.
func (s *Store) put(ctx context.Context, op errors.Op, name string, body io.ReaderAt, size int64, sum [32]byte) error {
	if size > maxPut {
		return errors.E(op, errors.Invalid, name, fmt.Errorf("object of %d bytes is larger than one S3 PUT may be (5 GiB)", size))
	}
	resp, err := s.c.do(ctx, call{method: http.MethodPut, key: s.key(name), body: body, size: size, sum: hex.EncodeToString(sum[:]),
		header: http.Header{"Content-Type": {"application/octet-stream"}}})
	if err != nil {
		return s.mapErr(ctx, op, name, err)
	}
	resp.Body.Close()
	return nil
}

// Stat describes name. See blob.Store.
func (s *Store) Stat(ctx context.Context, name string) (blob.Info, error) {
	const op errors.Op = "s3.Stat"
	if err := blob.Check(ctx, op, name); err != nil {
		return blob.Info{}, err
	}
	return s.stat(ctx, op, name)
}

func (s *Store) stat(ctx context.Context, op errors.Op, name string) (blob.Info, error) {
	resp, err := s.c.do(ctx, call{method: http.MethodHead, key: s.key(name)})
	if err != nil {
		return blob.Info{}, s.mapErr(ctx, op, name, err)
	}
	resp.Body.Close()
	size, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil || size < 0 {
		return blob.Info{}, errors.E(op, errors.IO, name, fmt.Errorf("the S3 store %s gave no size of the object", s.where()))
	}
	mod, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	return blob.Info{Name: name, Size: size, ModTime: mod}, nil
}

// Delete removes name; a missing object is not an error. See blob.Store.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op errors.Op = "s3.Delete"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	resp, err := s.c.do(ctx, call{method: http.MethodDelete, key: s.key(name)})
	if re, ok := err.(*respError); ok && (re.Code == "NoSuchKey" || re.Status == http.StatusNotFound) {
		return nil // S3 answers 204 anyway; some services do not
	}
	if err != nil {
		return s.mapErr(ctx, op, name, err)
	}
	resp.Body.Close()
	return nil
}

// retry runs f, and again while it fails with a body that broke off, at
// most cfg.Attempts times in all, with jittered exponential backoff; it
// returns early when ctx is done. Failures of the request itself are
// retried by the client.
func (s *Store) retry(ctx context.Context, op errors.Op, name string, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		var be *bodyError
		if err == nil || attempt >= s.cfg.Attempts || !errors.As(err, &be) {
			return err
		}
		d := min(200*time.Millisecond<<(attempt-1), 2*time.Second)
		t := time.NewTimer(d/2 + rand.N(d/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.E(op, name, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
	}
}
