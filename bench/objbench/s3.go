package main

import (
	"bytes"
	"context"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Target puts and gets objects in a bucket of an S3 server.
type s3Target struct {
	c      *minio.Client
	bucket string
}

func newS3(ctx context.Context, endpoint, access, secret, bucket string) (*s3Target, error) {
	c, err := minio.New(endpoint, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Secure: false})
	if err != nil {
		return nil, err
	}
	if ok, err := c.BucketExists(ctx, bucket); err != nil {
		return nil, err
	} else if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
			return nil, err
		}
	}
	return &s3Target{c: c, bucket: bucket}, nil
}

func (t *s3Target) put(ctx context.Context, name string, data []byte) error {
	_, err := t.c.PutObject(ctx, t.bucket, name, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{DisableContentSha256: true, DisableMultipart: true})
	return err
}

func (t *s3Target) get(ctx context.Context, name string, buf []byte) (int, error) {
	o, err := t.c.GetObject(ctx, t.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return 0, err
	}
	defer o.Close()
	return io.ReadFull(o, buf)
}
