package s3

import (
	"bytes"
	"context"
	stderrors "errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// hostile is an S3 service that gives one answer, set by the test, to
// every request (but the check that the bucket exists, unless all is set).
type hostile struct {
	mu     sync.Mutex
	all    bool
	status int
	header http.Header
	body   []byte
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	status, header, body, all := h.status, h.header, h.body, h.all
	h.mu.Unlock()
	if !all && r.Method == http.MethodHead && strings.Trim(r.URL.Path, "/") == testBucket {
		return // 200: the bucket exists
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	w.Write(body)
}

// FuzzResponses gives the store any answer from its S3 service, to each
// of its operations: none panics or hangs; an error has a kind; a read
// returns only bytes of the answer and never more than was asked; a
// listing ends, in order, with valid names and sizes; a size is never
// negative.
func FuzzResponses(f *testing.F) {
	const lastMod = "Last-Modified: Mon, 02 Jan 2006 15:04:05 GMT\n"
	f.Add(uint8(0), 200, "Content-Length: 3\n"+lastMod, []byte("abc"))
	f.Add(uint8(1), 206, "Content-Range: bytes 2-4/10\nContent-Length: 3\n"+lastMod, []byte("234"))
	f.Add(uint8(2), 200, "Content-Length: 10\n"+lastMod, []byte("0123456789"))
	f.Add(uint8(3), 206, "Content-Range: bytes 2-6/10\n"+lastMod, []byte("23456"))
	f.Add(uint8(4), 200, "Content-Type: application/xml\n", []byte(`<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>dvpc-test</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>false</IsTruncated>
<Contents><Key>p/a</Key><Size>3</Size><LastModified>2025-01-02T03:04:05.000Z</LastModified></Contents>
<Contents><Key>p/b/c</Key><Size>7</Size><LastModified>2025-01-02T03:04:05.000Z</LastModified></Contents></ListBucketResult>`))
	f.Add(uint8(4), 200, "", []byte(`<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>`+
		`<Contents><Key>p/a</Key><Size>1</Size></Contents></ListBucketResult>`))
	f.Add(uint8(4), 200, "", []byte(`<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken></ListBucketResult>`))
	f.Add(uint8(4), 200, "", []byte(`<ListBucketResult><Contents><Key>p/a</Key><Size>-4</Size></Contents></ListBucketResult>`))
	f.Add(uint8(5), 200, "ETag: \"x\"\n", []byte{})
	f.Add(uint8(6), 204, "", []byte{})
	f.Add(uint8(7), 403, "Content-Type: application/xml\n", []byte(`<Error><Code>AccessDenied</Code><Message>no</Message></Error>`))
	f.Add(uint8(0), 503, "Retry-After: 1\n", []byte(`<Error><Code>SlowDown</Code></Error>`))
	f.Add(uint8(1), 404, "", []byte(`<Error><Code>NoSuchKey</Code></Error>`))
	f.Add(uint8(3), 416, "", []byte(`<Error><Code>InvalidRange</Code></Error>`))
	f.Add(uint8(0), 200, "Content-Length: -1\n", []byte{})

	h := &hostile{}
	srv := httptest.NewServer(h)
	f.Cleanup(srv.Close)
	cfg := Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: testBucket, Prefix: "p/", Region: "us-east-1",
		AccessKey: testAccess, SecretKey: testSecret, Attempts: 1, TempDir: f.TempDir()}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, op uint8, status int, header string, body []byte) {
		if status < 200 || status > 599 {
			return
		}
		hdr := http.Header{}
		for _, line := range strings.Split(header, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && validToken(k) {
				hdr.Add(k, strings.TrimSpace(v))
			}
		}
		h.mu.Lock()
		h.status, h.header, h.body, h.all = status, hdr, body, op%8 == 7
		h.mu.Unlock()
		// Each operation ends well before this: the answer is there.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		const name = "a/b"
		kinded := func(what string, err error) {
			t.Helper()
			if err != nil && errors.KindOf(err) == errors.Other {
				t.Fatalf("%s: error without a kind: %v", what, err)
			}
			if ctx.Err() != nil {
				t.Fatalf("%s did not end: %v", what, err)
			}
		}
		switch op % 8 {
		case 0:
			in, err := s.Stat(ctx, name)
			kinded("Stat", err)
			if err == nil && (in.Size < 0 || in.Name != name) {
				t.Fatalf("Stat = %+v", in)
			}
		case 1, 2:
			off, length := int64(2), int64(3)
			if op%8 == 2 {
				off, length = 0, -1
			}
			data, err := s.Get(ctx, name, off, length)
			kinded("Get", err)
			if err == nil && (length > 0 && int64(len(data)) > length || !bytes.Contains(body, data)) {
				t.Fatalf("Get(%d, %d) = %q from an answer of %q", off, length, data, body)
			}
		case 3:
			p := make([]byte, 5)
			n, err := s.ReadAt(ctx, name, p, 2)
			if err != io.EOF {
				kinded("ReadAt", err)
			}
			if n < 0 || n > len(p) || !bytes.Contains(body, p[:n]) || err == nil && n != len(p) {
				t.Fatalf("ReadAt = %d %q, %v from an answer of %q", n, p[:max(n, 0)], err, body)
			}
		case 4:
			var last string
			err := s.List(ctx, "", func(in blob.Info) error {
				if blob.ValidName(in.Name) != nil || in.Size < 0 || in.Name <= last {
					t.Fatalf("List gave %+v after %q", in, last)
				}
				last = in.Name
				return nil
			})
			kinded("List", err)
		case 5:
			kinded("Put", s.Put(ctx, name, []byte("data")))
		case 6:
			kinded("Delete", s.Delete(ctx, name))
		case 7:
			_, err := Open(ctx, cfg)
			kinded("Open", err)
		}
	})
}

// validToken reports whether k may be a header's name.
func validToken(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// pages is an S3 service whose listings answer with the pages of its
// function, by request number; it counts the listing's requests.
type pages struct {
	mu   sync.Mutex
	n    int
	page func(n int) string
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		return // the bucket exists
	}
	p.mu.Lock()
	n := p.n
	p.n++
	p.mu.Unlock()
	w.Write([]byte(`<ListBucketResult>` + p.page(n) + `</ListBucketResult>`))
}

func (p *pages) store(t *testing.T) *Store {
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	s, err := Open(t.Context(), Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: testBucket, Prefix: "p/",
		Region: "us-east-1", AccessKey: testAccess, SecretKey: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func listNames(ctx context.Context, s *Store) ([]string, error) {
	var got []string
	err := s.List(ctx, "", func(in blob.Info) error {
		got = append(got, in.Name)
		return nil
	})
	return got, err
}

const more = `<IsTruncated>true</IsTruncated><NextContinuationToken>t</NextContinuationToken>`

// A listing may have a few pages without a key (S3 does so), but one that
// never gives another key fails, after a bounded number of requests.
func TestListIdlePages(t *testing.T) {
	p := &pages{page: func(n int) string {
		switch n {
		case 0, 1, 2, 4:
			return more
		case 3:
			return more + `<Contents><Key>p/a</Key><Size>1</Size></Contents>`
		}
		return `<Contents><Key>p/b</Key><Size>2</Size></Contents>`
	}}
	got, err := listNames(t.Context(), p.store(t))
	if err != nil || strings.Join(got, " ") != "a b" {
		t.Fatalf("List = %q, %v; want a b", got, err)
	}

	p = &pages{page: func(n int) string {
		if n == 0 {
			return more + `<Contents><Key>p/a</Key><Size>1</Size></Contents>`
		}
		return more
	}}
	s := p.store(t)
	got, err = listNames(t.Context(), s)
	if !errors.Is(err, errors.IO) || len(got) != 1 || !strings.Contains(err.Error(), "without a key") {
		t.Fatalf("List of endless empty pages = %q, %v; want a, then an I/O error", got, err)
	}
	if most := 1 + maxIdlePages + s.cfg.Attempts; p.n > most+1 {
		t.Errorf("the listing asked for %d pages; want at most %d", p.n, most+1)
	}
}

// A listing that ends because its context is done is an error, not a
// short listing.
func TestListCancelled(t *testing.T) {
	p := &pages{page: func(n int) string {
		return more + `<Contents><Key>p/k` + strconv.Itoa(1000+n) + `</Key><Size>1</Size></Contents>`
	}}
	s := p.store(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	err := s.List(ctx, "", func(in blob.Info) error {
		if in.Name == "k1002" {
			cancel()
		}
		return nil
	})
	if !stderrors.Is(err, context.Canceled) {
		t.Fatalf("List after its context was cancelled = %v; want context.Canceled", err)
	}
}

// Opening stores again and again, refused or not, leaves no connection
// and no goroutine behind each: the fuzz test opens thousands, and ran
// out of file descriptors when each store had a transport of its own.
func TestOpenAgainLeavesNothing(t *testing.T) {
	for _, status := range []int{200, 436} {
		h := &hostile{status: status, all: true}
		srv := httptest.NewServer(h)
		cfg := Config{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Bucket: testBucket, Region: "us-east-1",
			AccessKey: testAccess, SecretKey: testSecret, Attempts: 1}
		Open(t.Context(), cfg) // the first connection
		before := runtime.NumGoroutine()
		for range 300 {
			Open(t.Context(), cfg)
		}
		if after := runtime.NumGoroutine(); after > before+20 {
			t.Errorf("status %d: %d goroutines after 300 opens, %d before", status, after, before)
		}
		srv.Close()
	}
}
