package s3

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Config says where a mirror of kind s3 lives and how to sign in.
type Config struct {
	Endpoint string // HOST:PORT of the S3 service
	Secure   bool   // HTTPS (s3s://) rather than plain HTTP (s3://)
	Bucket   string
	Prefix   string // "" or a valid object name followed by "/"
	Region   string // "" asks the service (GetBucketLocation)

	// The credentials. If AccessKey and SecretKey are both empty, Open
	// reads them from the environment; see FromEnv.
	AccessKey    string
	SecretKey    string
	SessionToken string

	// Attempts bounds how many times a request is tried in all when it
	// fails in a way that may pass; 0 means DefaultAttempts.
	Attempts int

	// TempDir is where Create spills objects too large to hold in memory;
	// "" means the system's temporary folder.
	TempDir string
}

// DefaultAttempts is how many times a request is tried in all by default.
const DefaultAttempts = 4

// The environment variables FromEnv reads, as every S3 tool does.
const (
	EnvAccessKey    = "AWS_ACCESS_KEY_ID"
	EnvSecretKey    = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken = "AWS_SESSION_TOKEN"
	EnvRegion       = "AWS_REGION"
)

// FromEnv fills the credentials, and the region if none is set, from the
// usual AWS_* variables, read with getenv (os.Getenv, or a test's map).
func (c *Config) FromEnv(getenv func(string) string) {
	c.AccessKey = getenv(EnvAccessKey)
	c.SecretKey = getenv(EnvSecretKey)
	c.SessionToken = getenv(EnvSessionToken)
	if c.Region == "" {
		c.Region = getenv(EnvRegion)
	}
}

// String returns the location of the mirror, without credentials.
func (c Config) String() string {
	scheme := "s3://"
	if c.Secure {
		scheme = "s3s://"
	}
	s := scheme + c.Endpoint + "/" + c.Bucket
	if c.Prefix != "" {
		s += "/" + strings.TrimSuffix(c.Prefix, "/")
	}
	if c.Region != "" {
		s += "?region=" + c.Region
	}
	return s
}

// Parse reads a location of the form
//
//	s3://HOST[:PORT]/BUCKET[/PREFIX][?region=REGION]
//
// s3:// speaks plain HTTP (port 80 by default), for a store on the local
// network; s3s:// speaks HTTPS (port 443 by default), for anything else.
// PREFIX, if given, is made of valid object-name elements; the mirror's
// objects are stored under PREFIX/. Credentials never go in a location:
// they come from the environment or are set on the Config.
func Parse(location string) (Config, error) {
	const op errors.Op = "s3.Parse"
	c, err := parse(location)
	if err != nil {
		return Config{}, errors.E(op, errors.Invalid, errors.Str("bad s3 location "+quote(location)+": "+err.Error()))
	}
	return c, nil
}

func parse(loc string) (Config, error) {
	var c Config
	rest, ok := strings.CutPrefix(loc, "s3://")
	if !ok {
		if rest, ok = strings.CutPrefix(loc, "s3s://"); !ok {
			return c, errors.Str("it must start with s3:// (HTTP) or s3s:// (HTTPS)")
		}
		c.Secure = true
	}
	if strings.ContainsAny(rest, "#%\\") || strings.IndexFunc(rest, badRune) >= 0 {
		return c, errors.Str("it holds a character a location may not hold")
	}
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if strings.Contains(authority, "@") {
		return c, errors.Str("credentials do not go in the location: set " + EnvAccessKey + " and " + EnvSecretKey)
	}
	endpoint, err := parseEndpoint(authority, c.Secure)
	if err != nil {
		return c, err
	}
	c.Endpoint = endpoint
	bucket, prefix, _ := strings.Cut(path, "/")
	if err := checkBucket(bucket); err != nil {
		return c, err
	}
	c.Bucket = bucket
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		if blob.ValidName(prefix) != nil {
			return c, errors.Str("the prefix must be made of elements of [A-Za-z0-9._-], not . or .., joined by /")
		}
		c.Prefix = prefix + "/"
	}
	c.Region, err = parseQuery(query)
	return c, err
}

// badRune reports a control character, a space or anything not ASCII.
func badRune(r rune) bool { return r <= ' ' || r >= 0x7f }

// parseEndpoint checks HOST[:PORT] and returns it with the port made
// explicit.
func parseEndpoint(authority string, secure bool) (string, error) {
	host, port := authority, ""
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:i], authority[i+1:]
		if port == "" {
			return "", errors.Str("the port is empty")
		}
	}
	if h, ok := strings.CutPrefix(host, "["); ok {
		h, ok = strings.CutSuffix(h, "]")
		if ip := net.ParseIP(h); !ok || ip == nil || ip.To4() != nil {
			return "", errors.Str("the host is not a valid IPv6 address in brackets")
		}
		host = h
	} else if !validHost(host) {
		return "", errors.Str("the host is missing or not a valid host name or IPv4 address")
	}
	if port == "" {
		port = "80"
		if secure {
			port = "443"
		}
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
		return "", errors.Str("the port must be a number from 1 to 65535")
	}
	return net.JoinHostPort(host, port), nil
}

// validHost reports whether host is a DNS name or an IPv4 address.
func validHost(host string) bool {
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkBucket applies S3's rules for bucket names: 3 to 63 lower-case
// letters, digits, dots and hyphens, starting and ending with a letter or
// digit, with no ".." and not shaped like an IP address.
func checkBucket(b string) error {
	if b == "" {
		return errors.Str("it names no bucket: s3://HOST:PORT/BUCKET")
	}
	bad := len(b) < 3 || len(b) > 63 || strings.Contains(b, "..") || net.ParseIP(b) != nil
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(b)-1) {
			bad = true
		}
	}
	if bad {
		return errors.Str("the bucket name must be 3 to 63 lower-case letters, digits, dots and hyphens")
	}
	return nil
}

// parseQuery reads the options of a location: only region for now.
func parseQuery(query string) (region string, err error) {
	if query == "" {
		return "", nil
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return "", errors.Str("bad options after ?")
	}
	for k, vals := range v {
		if k != "region" {
			return "", errors.Str("unknown option " + quote(k) + " (the only option is region)")
		}
		if len(vals) != 1 || !validRegion(vals[0]) {
			return "", errors.Str("region must be given once, as lower-case letters, digits and hyphens")
		}
		region = vals[0]
	}
	return region, nil
}

func validRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// quote quotes s for an error message, cut short if long.
func quote(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strconv.Quote(s)
}
