package remote

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	stderrors "errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/blobtest"
	"github.com/dvpc/dvpc/internal/errors"
)

// The client passes the conformance suite against the fake server; the
// real one is in server_test.go.
func TestStoreFake(t *testing.T) {
	blobtest.TestStore(t, func(t *testing.T) blob.Store {
		_, c := newFake(t)
		return c.Store()
	})
}

func hashName(dir string, data []byte) string {
	sum := sha256.Sum256(data)
	return dir + "/" + hex.EncodeToString(sum[:])
}

// Get and ReadAt handle 206, a server that ignores Range (200), and a
// range past the end (416, with or without the object's size).
func TestRanges(t *testing.T) {
	data := []byte("0123456789abcdefghij")
	tests := []struct {
		off, length int64
		want        string
	}{
		{0, -1, "0123456789abcdefghij"},
		{0, 5, "01234"},
		{5, 5, "56789"},
		{15, -1, "fghij"},
		{15, 100, "fghij"},
		{19, 1, "j"},
		{20, 1, ""},
		{20, -1, ""},
		{1000, 5, ""},
		{3, 0, ""},
		{10, 1<<63 - 1, "abcdefghij"},
	}
	for _, mode := range []string{"206", "200", "bare416"} {
		f, c := newFake(t)
		f.ignoreRange, f.bare416 = mode == "200", mode == "bare416"
		s := c.Store()
		if err := s.Put(t.Context(), "obj", data); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			got, err := s.Get(t.Context(), "obj", tt.off, tt.length)
			if err != nil || string(got) != tt.want {
				t.Errorf("%s: Get(%d, %d) = %q, %v; want %q", mode, tt.off, tt.length, got, err, tt.want)
			}
			if tt.length < 0 || tt.length > 100 {
				continue
			}
			p := make([]byte, tt.length)
			// A mirror set tells a slow answer from a stalled one by the
			// progress the store reports.
			heard := 0
			ctx := blob.WithProgress(t.Context(), func() { heard++ })
			n, err := s.ReadAt(ctx, "obj", p, tt.off)
			short := int64(n) < tt.length
			if string(p[:n]) != tt.want || short && err != io.EOF || !short && err != nil {
				t.Errorf("%s: ReadAt(%d, %d) = %q, %v; want %q", mode, tt.off, tt.length, p[:n], err, tt.want)
			}
			if n > 0 && heard < 2 {
				t.Errorf("%s: ReadAt(%d, %d) reported progress %d times, want the answer's start and its bytes", mode, tt.off, tt.length, heard)
			}
		}
	}
}

// A Get asks for only the bytes it wants.
func TestRangeHeader(t *testing.T) {
	for _, tt := range []struct {
		off, length int64
		want        string
	}{
		{0, -1, ""},
		{5, -1, "bytes=5-"},
		{0, 10, "bytes=0-9"},
		{7, 1, "bytes=7-7"},
		{1, 1<<63 - 1, "bytes=1-9223372036854775807"},
		{2, 1<<63 - 1, "bytes=2-"},
		{1<<63 - 1, 1, "bytes=9223372036854775807-9223372036854775807"},
	} {
		if got := rangeHeader(tt.off, tt.length); got != tt.want {
			t.Errorf("rangeHeader(%d, %d) = %q, want %q", tt.off, tt.length, got, tt.want)
		}
	}
}

// An answer that is not the range asked for is refused, not returned.
func TestBadPartial(t *testing.T) {
	f, c := newFake(t)
	f.handle("/v1/o/obj", func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.Header().Set("Content-Range", "bytes 1-3/10")
		w.WriteHeader(206)
		w.Write([]byte("123"))
	})
	_, err := c.Store().Get(t.Context(), "obj", 0, 3)
	if errors.KindOf(err) != errors.IO {
		t.Fatalf("Get of the wrong range: %v, want an IO error", err)
	}
}

// List asks for page after page, each after the last name of the one
// before, and stops at fn's first error.
func TestListPages(t *testing.T) {
	f, c := newFake(t)
	f.pageSize = 3
	s := c.Store()
	var want []string
	for i := range 10 {
		name := fmt.Sprintf("p/%02d", i)
		want = append(want, name)
		if err := s.Put(t.Context(), name, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(t.Context(), "q", nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.List(t.Context(), "p/", func(in blob.Info) error {
		got = append(got, in.Name)
		if in.Size != 1 || in.ModTime.IsZero() {
			t.Errorf("List gives %+v", in)
		}
		return nil
	})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("List = %q, %v; want %q", got, err, want)
	}
	if n := f.count("GET /v1/list"); n != 4 {
		t.Errorf("List of 10 names by pages of 3 made %d requests, want 4", n)
	}
	if q := f.query("/v1/list"); q != "after=p%2F08&prefix=p%2F" {
		t.Errorf("last page asked with %q", q)
	}

	stop := errors.Str("stop")
	calls := 0
	err = s.List(t.Context(), "p/", func(blob.Info) error { calls++; return stop })
	if !stderrors.Is(err, stop) || calls != 1 || f.count("GET /v1/list") != 5 {
		t.Errorf("List after fn failed: %v, %d calls, %d requests", err, calls, f.count("GET /v1/list"))
	}
}

// A page that is out of order or outside the prefix is refused.
func TestListBadPage(t *testing.T) {
	for _, body := range []string{
		`{"objects": [{"name": "p/b"}, {"name": "p/a"}], "more": false}`,
		`{"objects": [{"name": "q/a"}], "more": false}`,
		`{"objects": [], "more": true}`,
		`{"objects": [{"name": "p/../x"}], "more": false}`,
		`{"objects": [{"name": "p/a", "size": -1}], "more": false}`,
		`not json`,
	} {
		f, c := newFake(t)
		f.handle("/v1/list", func(w http.ResponseWriter, r *http.Request, _ map[string]any) { w.Write([]byte(body)) })
		err := c.Store().List(t.Context(), "p/", func(blob.Info) error { return nil })
		if errors.KindOf(err) != errors.IO {
			t.Errorf("List answered %s: %v, want an IO error", body, err)
		}
	}
}

// Put sends Content-Length, also for an empty object and a streamed one.
func TestPutLength(t *testing.T) {
	f, c := newFake(t)
	var lengths []int64
	f.setInject(func(r *http.Request) *failure {
		if r.Method == http.MethodPut {
			lengths = append(lengths, r.ContentLength)
		}
		return nil
	})
	s := c.Store()
	if err := s.Put(t.Context(), "empty", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "three", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	w, _ := s.Create(t.Context())
	w.Write(make([]byte, blob.SpillSize+10))
	if err := w.Commit(t.Context(), "big"); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(lengths, []int64{0, 3, blob.SpillSize + 10}) {
		t.Errorf("Content-Length sent: %d", lengths)
	}
}

// An object writer keeps a small object in memory, moves a large one to a
// temporary file, and leaves no file behind after Commit or Abort.
func TestCreateTempFiles(t *testing.T) {
	_, c := newFake(t)
	c.tempDir = t.TempDir()
	s := c.Store()
	files := func() int {
		entries, err := os.ReadDir(c.tempDir)
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	data := make([]byte, 3*blob.SpillSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data[:100])
	if files() != 0 {
		t.Fatal("a small object went to a file")
	}
	w.Write(data[100:])
	if files() != 1 {
		t.Fatal("a large object is not in a temporary file")
	}
	name := hashName("packs", data)
	if err := w.Commit(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if files() != 0 {
		t.Fatal("Commit left its temporary file")
	}
	if got, _ := s.Get(t.Context(), name, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("the streamed object reads back wrong")
	}
	w, _ = s.Create(t.Context())
	w.Write(data)
	w.Abort()
	if files() != 0 {
		t.Fatal("Abort left its temporary file")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Abort works")
	}
}

// A body that is a file, or a section of one (however nested) that ends
// where the file does, is sent from a handle of its own, at the section's
// start, which the HTTP transport can send with sendfile; another body is
// not, and still arrives whole.
func TestFileBody(t *testing.T) {
	path := t.TempDir() + "/spool"
	data := []byte("0123456789abcdefghij")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		body io.ReaderAt
		size int64
		want string
	}{
		{f, 20, string(data)},
		{io.NewSectionReader(f, 4, 16), 16, "456789abcdefghij"},
		{io.NewSectionReader(io.NewSectionReader(f, 4, 16), 3, 13), 13, "789abcdefghij"},
		{io.NewSectionReader(f, 4, 6), 6, ""}, // ends before the file does
	} {
		g := fileBody(c.body, c.size)
		if c.want == "" {
			if g != nil {
				t.Fatal("a section that ends before its file was given the file")
			}
			continue
		}
		if g == nil {
			t.Fatalf("no file for %T", c.body)
		}
		got, err := io.ReadAll(g)
		g.Close()
		if err != nil || string(got) != c.want {
			t.Fatalf("read %q, %v; want %q", got, err, c.want)
		}
	}
	if g := fileBody(bytes.NewReader(data), 20); g != nil {
		t.Fatal("a body in memory was given a file")
	}
	// A section in the middle of a file and one to its end arrive whole.
	_, c := newFake(t)
	s := c.Store()
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>9)
	}
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	part := big[1000 : 1000+2<<20]
	name := hashName("data/ab", part)
	body := io.NewSectionReader(io.NewSectionReader(f, 500, 3<<20), 500, int64(len(part)))
	if err := s.PutSection(t.Context(), name, body, sha256.Sum256(part)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), name, 0, -1); err != nil || !bytes.Equal(got, part) {
		t.Fatalf("the section read back wrong: %d bytes, %v", len(got), err)
	}
	tail := big[1<<20:]
	name = hashName("data/cd", tail)
	body = io.NewSectionReader(io.NewSectionReader(f, 1<<19, 3<<20-1<<19), 1<<19, int64(len(tail)))
	if err := s.PutSection(t.Context(), name, body, sha256.Sum256(tail)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(t.Context(), name, 0, -1); err != nil || !bytes.Equal(got, tail) {
		t.Fatalf("the file's tail read back wrong: %d bytes, %v", len(got), err)
	}
}
