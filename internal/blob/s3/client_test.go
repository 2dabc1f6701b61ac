package s3

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/dvpc/dvpc/internal/errors"
)

// regionOf returns the region of the credential scope a request was
// signed for.
func regionOf(r *http.Request) string {
	_, cred, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	parts := strings.Split(cred, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

// A location without a region opens a bucket of another region: the
// refusal's x-amz-bucket-region names it, and every request after is
// signed for it. With the wrong region given, Open fails.
func TestRegionFromAnswer(t *testing.T) {
	var mu sync.Mutex
	var seen []string // under mu
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+regionOf(r))
		mu.Unlock()
		if regionOf(r) != "eu-west-3" {
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-3")
			w.WriteHeader(http.StatusMovedPermanently)
			return
		}
		if r.Method == http.MethodPut {
			io.Copy(io.Discard, r.Body)
		}
	}))
	defer srv.Close()
	cfg := Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: testBucket, AccessKey: testAccess, SecretKey: testSecret, Attempts: 1}
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open without a region: %v", err)
	}
	if err := s.Put(t.Context(), "a", []byte("x")); err != nil {
		t.Fatalf("Put: %v", err)
	}
	mu.Lock()
	got := strings.Join(seen, ",")
	mu.Unlock()
	if want := "HEAD us-east-1,HEAD eu-west-3,PUT eu-west-3"; got != want {
		t.Errorf("requests %q, want %q", got, want)
	}
	cfg.Region = "us-east-1"
	if _, err := Open(t.Context(), cfg); err == nil {
		t.Error("Open with the wrong region given succeeded")
	}
}

// A request the service answers "busy" is tried again, with its whole
// body, up to the attempts; a refusal is not.
func TestRetries(t *testing.T) {
	var mu sync.Mutex
	var calls int
	var bodies []string
	fail := 2
	status := http.StatusServiceUnavailable
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.Trim(r.URL.Path, "/") == testBucket {
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls++
		bodies = append(bodies, string(b))
		n, fail, status := calls, fail, status
		mu.Unlock()
		if n <= fail {
			w.WriteHeader(status)
			fmt.Fprintf(w, "<Error><Code>%s</Code></Error>", map[int]string{503: "SlowDown", 403: "AccessDenied"}[status])
			return
		}
		if sum := sha256.Sum256(b); r.Header.Get("X-Amz-Content-Sha256") != fmt.Sprintf("%x", sum) {
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	cfg := Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: testBucket, Region: "us-east-1",
		AccessKey: testAccess, SecretKey: testSecret, Attempts: 3}
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("body"), 1000)
	if err := s.Put(t.Context(), "a", data); err != nil {
		t.Fatalf("Put after two SlowDowns: %v", err)
	}
	mu.Lock()
	if calls != 3 || bodies[0] != string(data) || bodies[2] != string(data) {
		t.Errorf("%d calls, bodies of %d and %d bytes; want 3 calls of the whole body", calls, len(bodies[0]), len(bodies[len(bodies)-1]))
	}
	calls, bodies, fail, status = 0, nil, 5, http.StatusForbidden
	mu.Unlock()
	err = s.Put(t.Context(), "a", data)
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(err, errors.Permission) || calls != 1 {
		t.Errorf("Put refused: %v after %d calls; want Permission after 1", err, calls)
	}
}
