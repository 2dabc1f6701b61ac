package main

import (
	"context"

	"github.com/dvpc/dvpc/internal/blob/s3"
	"github.com/dvpc/dvpc/internal/errors"
)

// s3Target puts and gets objects in a bucket of an S3 server, with the
// S3 mirror's own store (each PUT signed with its SHA-256, as a mirror's).
type s3Target struct{ st *s3.Store }

func newS3(ctx context.Context, endpoint, access, secret, bucket string) (*s3Target, error) {
	cfg := s3.Config{Endpoint: endpoint, Bucket: bucket, Region: "us-east-1", AccessKey: access, SecretKey: secret}
	st, err := s3.Open(ctx, cfg)
	if errors.Is(err, errors.NotExist) {
		if err := s3.CreateBucket(ctx, cfg); err != nil {
			return nil, err
		}
		st, err = s3.Open(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return &s3Target{st: st}, nil
}

func (t *s3Target) put(ctx context.Context, name string, data []byte) error {
	return t.st.Put(ctx, name, data)
}

func (t *s3Target) get(ctx context.Context, name string, buf []byte) (int, error) {
	return t.st.ReadAt(ctx, name, buf, 0)
}
