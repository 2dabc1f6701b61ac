package s3

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dvpc/dvpc/internal/errors"
)

// codeKinds is the table of S3 error codes and the kinds they become.
var codeKinds = map[string]errors.Kind{
	"NoSuchKey":    errors.NotExist,
	"NoSuchBucket": errors.NotExist,
	"NotFound":     errors.NotExist,

	"AccessDenied":          errors.Permission,
	"InvalidAccessKeyId":    errors.Permission,
	"SignatureDoesNotMatch": errors.Permission,
	"InvalidToken":          errors.Permission,
	"ExpiredToken":          errors.Permission,
	"TokenRefreshRequired":  errors.Permission,
	"AccountProblem":        errors.Permission,
	"AllAccessDisabled":     errors.Permission,

	"SlowDown":             errors.Unavailable,
	"SlowDownRead":         errors.Unavailable,
	"SlowDownWrite":        errors.Unavailable,
	"ServiceUnavailable":   errors.Unavailable,
	"Throttling":           errors.Unavailable,
	"RequestLimitExceeded": errors.Unavailable,
	"RequestTimeout":       errors.Unavailable,
	"InternalError":        errors.Unavailable,

	"QuotaExceeded":                  errors.Full,
	"XMinioAdminBucketQuotaExceeded": errors.Full,
	"XMinioStorageFull":              errors.Full,
	"StorageFull":                    errors.Full,
	"InsufficientStorage":            errors.Full,

	"EntityTooLarge":  errors.Invalid,
	"KeyTooLongError": errors.Invalid,
	"InvalidArgument": errors.Invalid,

	"BadDigest":                   errors.Corrupt,
	"InvalidDigest":               errors.Corrupt,
	"XAmzContentSHA256Mismatch":   errors.Corrupt,
	"XAmzContentChecksumMismatch": errors.Corrupt,
}

// kindOf classifies an error answer of the service by its code, or else
// its status.
func kindOf(code string, status int) errors.Kind {
	if k, ok := codeKinds[code]; ok {
		return k
	}
	switch {
	case status == 401 || status == 403:
		return errors.Permission
	case status == 404:
		return errors.NotExist
	case status == 429 || status == 500 || status == 502 || status == 503 || status == 504:
		return errors.Unavailable
	case status == 507:
		return errors.Full
	case status > 500:
		return errors.IO
	}
	return errors.Invalid
}

// mapErr turns an error of the client into one of DVPC's, with a kind and
// words that say what to do.
func (s *Store) mapErr(ctx context.Context, op errors.Op, name string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return errors.E(op, name, ctx.Err())
	}
	if _, ok := err.(*errors.Error); ok {
		return errors.E(op, name, err)
	}
	resp, ok := err.(*respError)
	if !ok {
		if _, isBody := err.(*bodyError); isBody {
			return errors.E(op, errors.Unavailable, name, fmt.Errorf("reading from the S3 store %s: %w", s.where(), err))
		}
		return errors.E(op, errors.Unavailable, name, fmt.Errorf("cannot reach the S3 store %s: %w", s.where(), err))
	}
	if resp.Code == "" {
		resp.Code = strconv.Itoa(resp.Status)
	}
	k := kindOf(resp.Code, resp.Status)
	switch k {
	case errors.Permission:
		return errors.E(op, k, name, fmt.Errorf("the S3 store %s refused the credentials (%s): set %s and %s "+
			"(and %s for temporary credentials) to a key allowed to use the bucket %s: %w",
			s.where(), resp.Code, EnvAccessKey, EnvSecretKey, EnvSessionToken, s.cfg.Bucket, err))
	case errors.Unavailable:
		return errors.E(op, k, name, fmt.Errorf("the S3 store %s is unavailable (%s), try again later: %w", s.where(), resp.Code, err))
	}
	return errors.E(op, k, name, fmt.Errorf("the S3 store %s answered %s: %w", s.where(), resp.Code, err))
}

// where names the store in messages: scheme, endpoint and bucket.
func (s *Store) where() string { return s.c.where() }

// bodyError is a response body that broke off or did not match its
// headers: the request may be tried again.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }
