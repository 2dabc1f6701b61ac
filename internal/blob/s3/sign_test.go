package s3

import (
	"net/http"
	"testing"
	"time"
)

// The example of a signed GET in AWS's documentation of SigV4 for S3
// ("Example: GET Object": the first 10 bytes of test.txt).
func TestSignVector(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=0-9")
	s := &signer{access: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1"}
	s.sign(req, emptySum, time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	const want = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization = %s\nwant            %s", got, want)
	}
	// The key of the day is made again on another day, and for another
	// region.
	s.sign(req, emptySum, time.Date(2013, 5, 25, 0, 0, 0, 0, time.UTC))
	if got := req.Header.Get("Authorization"); got == want {
		t.Error("a signature of another day is the same")
	}
}

func TestEscape(t *testing.T) {
	for _, tt := range []struct{ in, path, query string }{
		{"a/b-c_d.e~f", "a/b-c_d.e~f", "a%2Fb-c_d.e~f"},
		{"test$file.text", "test%24file.text", "test%24file.text"},
		{"a b+c=d&é", "a%20b%2Bc%3Dd%26%C3%A9", "a%20b%2Bc%3Dd%26%C3%A9"},
	} {
		if got := escape(tt.in, false); got != tt.path {
			t.Errorf("escape(%q, path) = %q, want %q", tt.in, got, tt.path)
		}
		if got := escape(tt.in, true); got != tt.query {
			t.Errorf("escape(%q, query) = %q, want %q", tt.in, got, tt.query)
		}
	}
}

// The client addresses AWS's endpoints by the bucket's host name, others
// by path, and leaves the scheme's own port out of the host.
func TestClientHost(t *testing.T) {
	for _, tt := range []struct {
		cfg     Config
		host    string
		virtual bool
	}{
		{Config{Endpoint: "127.0.0.1:7070", Bucket: "b"}, "127.0.0.1:7070", false},
		{Config{Endpoint: "nas:80", Bucket: "b"}, "nas", false},
		{Config{Endpoint: "nas:443", Bucket: "b"}, "nas:443", false},
		{Config{Endpoint: "[::1]:443", Secure: true, Bucket: "b"}, "[::1]", false},
		{Config{Endpoint: "s3.eu-west-3.amazonaws.com:443", Secure: true, Bucket: "b"}, "b.s3.eu-west-3.amazonaws.com", true},
		{Config{Endpoint: "s3.amazonaws.com:443", Secure: true, Bucket: "b.c"}, "s3.amazonaws.com", false},
	} {
		c := newClient(tt.cfg)
		if c.host != tt.host || c.virtual != tt.virtual {
			t.Errorf("%+v: host %q virtual %v, want %q %v", tt.cfg, c.host, c.virtual, tt.host, tt.virtual)
		}
	}
}
