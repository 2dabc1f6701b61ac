package s3

import (
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

func TestParse(t *testing.T) {
	good := []struct {
		in   string
		want Config
	}{
		{"s3://127.0.0.1:7070/bucket", Config{Endpoint: "127.0.0.1:7070", Bucket: "bucket"}},
		{"s3://127.0.0.1:7070/bucket/", Config{Endpoint: "127.0.0.1:7070", Bucket: "bucket"}},
		{"s3://nas.local:9000/my-bucket/dvpc/home", Config{Endpoint: "nas.local:9000", Bucket: "my-bucket", Prefix: "dvpc/home/"}},
		{"s3://nas:9000/b.c.d/p/", Config{Endpoint: "nas:9000", Bucket: "b.c.d", Prefix: "p/"}},
		{"s3://minio/bucket", Config{Endpoint: "minio:80", Bucket: "bucket"}},
		{"s3s://s3.eu-west-3.amazonaws.com/bucket/x?region=eu-west-3",
			Config{Endpoint: "s3.eu-west-3.amazonaws.com:443", Secure: true, Bucket: "bucket", Prefix: "x/", Region: "eu-west-3"}},
		{"s3s://[::1]:9000/bucket", Config{Endpoint: "[::1]:9000", Secure: true, Bucket: "bucket"}},
		{"s3://h:65535/abc/..x/.y", Config{Endpoint: "h:65535", Bucket: "abc", Prefix: "..x/.y/"}},
	}
	for _, tt := range good {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Errorf("Parse(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
		}
	}
	bad := []string{
		"",
		"s3:",
		"s3://",
		"http://host:9000/bucket",
		"S3://host:9000/bucket",
		"s3://host:9000",            // no bucket
		"s3://host:9000/",           // no bucket
		"s3://host:9000//prefix",    // no bucket
		"s3://:9000/bucket",         // no host
		"s3://host:/bucket",         // empty port
		"s3://host:0/bucket",        // bad port
		"s3://host:65536/bucket",    // bad port
		"s3://host:-1/bucket",       // bad port
		"s3://host:+80/bucket",      // bad port
		"s3://host:080/bucket",      // bad port
		"s3://host:http/bucket",     // bad port
		"s3://host:1:2/bucket",      // bad host
		"s3://ho st:9000/bucket",    // space
		"s3://host:9000/buc ket",    // space
		"s3://host:9000/bucket/a b", // space in prefix
		"s3://host:9000/bucket/..",
		"s3://host:9000/bucket/../other",
		"s3://host:9000/bucket/a/../../x",
		"s3://host:9000/bucket/./a",
		"s3://host:9000/bucket/a//b",
		"s3://host:9000/bucket/%2e%2e",
		"s3://host:9000/bucket/a\\b",
		"s3://host:9000/bucket/a#frag",
		"s3://host:9000/bucket/\x00",
		"s3://host:9000/bucket/é",
		"s3://host:9000/Bucket",
		"s3://host:9000/bu",
		"s3://host:9000/-bucket",
		"s3://host:9000/bucket-",
		"s3://host:9000/b..b",
		"s3://host:9000/192.168.1.1",
		"s3://host:9000/" + strings.Repeat("b", 64),
		"s3://host:9000/bucket/" + strings.Repeat("p", blob.MaxElemLen+1),
		"s3://key:secret@host:9000/bucket",
		"s3://host:9000/bucket?tls=1",
		"s3://host:9000/bucket?region=",
		"s3://host:9000/bucket?region=a&region=b",
		"s3://host:9000/bucket?region=EU%20WEST",
		"s3://-host:9000/bucket",
		"s3://host..x:9000/bucket",
		"s3://[::1/bucket",
		"s3://[1.2.3.4]:9000/bucket",
		"s3://[::1]x:9000/bucket",
	}
	for _, in := range bad {
		c, err := Parse(in)
		if !errors.Is(err, errors.Invalid) {
			t.Errorf("Parse(%q) = %+v, %v; want an Invalid error", in, c, err)
		}
	}
}

func TestParseCredentialsMessage(t *testing.T) {
	_, err := Parse("s3://key:secret@host:9000/bucket")
	if err == nil || !strings.Contains(err.Error(), EnvAccessKey) {
		t.Fatalf("Parse of a location with credentials: %v, want a hint naming %s", err, EnvAccessKey)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{EnvAccessKey: "a", EnvSecretKey: "s", EnvSessionToken: "t", EnvRegion: "r"}
	var c Config
	c.FromEnv(func(k string) string { return env[k] })
	if c.AccessKey != "a" || c.SecretKey != "s" || c.SessionToken != "t" || c.Region != "r" {
		t.Fatalf("FromEnv = %+v", c)
	}
}

func TestPossiblePrefix(t *testing.T) {
	for in, want := range map[string]bool{
		"": true, "d": true, "d/": true, "d/a.": true, "d/..": true, "d/..x/": true,
		"/": false, "/d": false, "d//": false, "../": false, "d/./a": false, "d/a b": false, "d/a\x00": false,
	} {
		if got := possiblePrefix(in); got != want {
			t.Errorf("possiblePrefix(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParse checks that Parse never panics, that what it accepts is a
// well-formed Config whose prefix is made of valid names, and that the
// Config prints as a location that parses back to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"s3://127.0.0.1:7070/bucket/prefix",
		"s3s://s3.amazonaws.com/bucket?region=us-east-1",
		"s3s://[::1]:9000/bucket/a/b/",
		"s3://h:1/bbb/..",
		"s3://u:p@h/bbb",
		"s3://h:9000/b%2fb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(in)
		if err != nil {
			if !errors.Is(err, errors.Invalid) {
				t.Fatalf("Parse(%q): %v, not Invalid", in, err)
			}
			return
		}
		if c.Endpoint == "" || checkBucket(c.Bucket) != nil {
			t.Fatalf("Parse(%q) = %+v", in, c)
		}
		if c.Prefix != "" && (!strings.HasSuffix(c.Prefix, "/") || blob.ValidName(strings.TrimSuffix(c.Prefix, "/")) != nil) {
			t.Fatalf("Parse(%q) gives the bad prefix %q", in, c.Prefix)
		}
		again, err := Parse(c.String())
		if err != nil || again != c {
			t.Fatalf("Parse(%q) = %+v, whose String %q parses as %+v, %v", in, c, c.String(), again, err)
		}
	})
}
