package server

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestObjects(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	data := []byte("0123456789abcdef")
	name := hashed("volumes/v/data/aa/", data)
	want(t, "put", u.put(name, data), 204, "")
	want(t, "put the same bytes again", u.put(name, data), 204, "")
	r := u.get(name)
	want(t, "get", r, 200, "")
	if !bytes.Equal(r.body, data) || r.header.Get("Content-Length") != "16" {
		t.Fatalf("get: %q %v", r.body, r.header)
	}
	mt, err := strconv.ParseInt(r.header.Get("X-Dvpc-Mtime"), 10, 64)
	if err != nil || time.Since(time.Unix(0, mt)) > time.Minute {
		t.Fatalf("X-Dvpc-Mtime %q", r.header.Get("X-Dvpc-Mtime"))
	}
	h := ts.do("HEAD", "/v1/o/"+name, u.token, nil)
	if h.status != 200 || h.header.Get("Content-Length") != "16" || h.header.Get("X-Dvpc-Mtime") == "" || len(h.body) != 0 {
		t.Fatalf("head: %s %v", h, h.header)
	}
	ranges := []struct {
		hdr, body, contentRange string
	}{
		{"bytes=2-5", "2345", "bytes 2-5/16"},
		{"bytes=10-", "abcdef", "bytes 10-15/16"},
		{"bytes=14-100", "ef", "bytes 14-15/16"},
		{"bytes=0-0", "0", "bytes 0-0/16"},
	}
	for _, c := range ranges {
		r := u.get(name, "Range", c.hdr)
		if r.status != 206 || string(r.body) != c.body || r.header.Get("Content-Range") != c.contentRange {
			t.Fatalf("Range %s: %s %v", c.hdr, r, r.header)
		}
	}
	r = u.get(name, "Range", "bytes=16-")
	want(t, "range past the end", r, 416, codeBadRange)
	if r.header.Get("Content-Range") != "bytes */16" {
		t.Fatalf("416 Content-Range %q", r.header.Get("Content-Range"))
	}
	for _, bad := range []string{"bytes=5-2", "bytes=-3", "bytes=0-1,4-5", "items=0-1", "bytes= 1-2", "bytes=a-", "bytes=99999999999999999999-"} {
		want(t, "Range "+bad, u.get(name, "Range", bad), 400, codeInvalid)
	}
	want(t, "get a missing object", u.get("volumes/v/none"), 404, codeNotFound)
	want(t, "head a missing object", ts.do("HEAD", "/v1/o/volumes/v/none", u.token, nil), 404, "")
	want(t, "put account", u.put("account", u.envelope), 403, codeForbidden)
	want(t, "delete account", u.del("account"), 403, codeForbidden)
	want(t, "POST an object", ts.do("POST", "/v1/o/x", u.token, []byte("x")), 405, codeInvalid)
	want(t, "delete", u.del(name), 204, "")
	want(t, "get after delete", u.get(name), 404, codeNotFound)
	want(t, "delete a missing object", u.del(name), 204, "")
	want(t, "delete a folder", u.del("volumes"), 204, "")
	// An empty object.
	want(t, "put empty", u.put("volumes/v/empty", nil), 204, "")
	if r := u.get("volumes/v/empty"); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("get empty: %s", r)
	}
	want(t, "range of an empty object", u.get("volumes/v/empty", "Range", "bytes=0-"), 416, codeBadRange)
	want(t, "object under an object", u.put("volumes/v/empty/x", data), 400, codeInvalid)
}

func TestList(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	for _, n := range []string{"volumes/a/1", "volumes/a/2", "volumes/a/3", "volumes/ab/1", "volumes/b/1"} {
		want(t, "put "+n, u.put(n, []byte(n)), 204, "")
	}
	if got := names(u.list("")); got != "account volumes/a/1 volumes/a/2 volumes/a/3 volumes/ab/1 volumes/b/1" {
		t.Fatalf("list all: %s", got)
	}
	l := u.list("prefix=volumes/a")
	if names(l) != "volumes/a/1 volumes/a/2 volumes/a/3 volumes/ab/1" || l.More {
		t.Fatalf("prefix volumes/a: %+v", l)
	}
	if l.Objects[0].Size != 11 {
		t.Fatalf("size %d", l.Objects[0].Size)
	}
	if _, err := time.Parse(time.RFC3339Nano, l.Objects[0].MTime); err != nil {
		t.Fatal(err)
	}
	// Pages of two.
	var all []string
	after := ""
	for {
		l := u.list("prefix=volumes/&limit=2&after=" + after)
		for _, o := range l.Objects {
			all = append(all, o.Name)
		}
		if !l.More {
			break
		}
		if len(l.Objects) != 2 {
			t.Fatalf("a page of %d with more", len(l.Objects))
		}
		after = l.Objects[len(l.Objects)-1].Name
	}
	if strings.Join(all, " ") != "volumes/a/1 volumes/a/2 volumes/a/3 volumes/ab/1 volumes/b/1" {
		t.Fatalf("pages: %v", all)
	}
	if got := names(u.list("prefix=nothing/")); got != "" {
		t.Fatalf("empty prefix: %q", got)
	}
	for _, q := range []string{"limit=0", "limit=10001", "limit=x", "prefix=%00", "prefix=a%20b", "after=" + strings.Repeat("a", 513), "prefix=a&prefix=b", "%zz"} {
		want(t, "list "+q, ts.do("GET", "/v1/list?"+q, u.token, nil), 400, codeInvalid)
	}
}

// A body that does not match the SHA-256 its name promises is refused,
// and leaves nothing: no object, no temporary file, no usage.
func TestPutHashMismatch(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	name := hashed("volumes/v/data/aa/", []byte("the real bytes"))
	want(t, "put wrong bytes", u.put(name, []byte("other bytes")), 422, codeCorrupt)
	want(t, "get after the refusal", u.get(name), 404, codeNotFound)
	if l := u.list("prefix=volumes/"); len(l.Objects) != 0 {
		t.Fatalf("listed after the refusal: %s", names(l))
	}
	noTemp(t, ts.cfg.Data)
	if a := u.info(); a.Used != int64(len(u.envelope)) {
		t.Fatalf("used %d after a refused put", a.Used)
	}
}

// noTemp fails the test if a temporary file is left under root.
func noTemp(t *testing.T, root string) {
	t.Helper()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestPutLimits(t *testing.T) {
	ts := start(t, Config{Signup: true, MaxObject: 1000})
	u := ts.signup("alice")
	want(t, "put at the limit", u.put("volumes/v/max", make([]byte, 1000)), 204, "")
	want(t, "put over the limit", u.put("volumes/v/big", make([]byte, 1001)), 413, codeTooLarge)
	want(t, "put without a length", ts.do("PUT", "/v1/o/volumes/v/chunked", u.token, bytes.NewReader([]byte("abc"))), 400, codeInvalid)
	// A body shorter than its Content-Length: the client goes away.
	conn, err := net.Dial("tcp", ts.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT /v1/o/volumes/v/short HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 100\r\n\r\n0123456789", u.token)
	conn.(*net.TCPConn).CloseWrite()
	io.ReadAll(conn)
	conn.Close()
	want(t, "get of a short put", u.get("volumes/v/short"), 404, codeNotFound)
	noTemp(t, ts.cfg.Data)
	for _, n := range []string{"", "/", "a//b", "./a", "a/..", "a/./b", strings.Repeat("a", 256), strings.Repeat("a/", 256) + "a", "a%00b", "a%20b", "a~", "é"} {
		want(t, "put "+strconv.Quote(n), ts.do("PUT", "/v1/o/"+n, u.token, []byte("x")), 400, codeInvalid)
	}
	if a := u.info(); a.Used != int64(len(u.envelope))+1000 {
		t.Fatalf("used %d", a.Used)
	}
}

func TestQuota(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	admin, err := OpenAdmin(ts.cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	env := int64(len(u.envelope))
	if err := admin.SetQuota(t.Context(), "alice", env+1000); err != nil {
		t.Fatal(err)
	}
	used := func() int64 { t.Helper(); return u.info().Used - env }
	want(t, "put 600", u.put("volumes/v/a", make([]byte, 600)), 204, "")
	want(t, "put 600 more", u.put("volumes/v/b", make([]byte, 600)), 507, codeQuotaExceeded)
	want(t, "get of the refused put", u.get("volumes/v/b"), 404, codeNotFound)
	if n := used(); n != 600 {
		t.Fatalf("used %d after a refused put", n)
	}
	want(t, "put 400", u.put("volumes/v/b", make([]byte, 400)), 204, "")
	want(t, "put 1", u.put("volumes/v/c", make([]byte, 1)), 507, codeQuotaExceeded)
	// Replacing an object counts the difference.
	want(t, "replace 600 by 100", u.put("volumes/v/a", make([]byte, 100)), 204, "")
	if n := used(); n != 500 {
		t.Fatalf("used %d after replacing 600 by 100", n)
	}
	want(t, "replace 100 by 600", u.put("volumes/v/a", make([]byte, 600)), 204, "")
	want(t, "replace 600 by 601", u.put("volumes/v/a", make([]byte, 601)), 507, codeQuotaExceeded)
	want(t, "delete", u.del("volumes/v/b"), 204, "")
	want(t, "delete again", u.del("volumes/v/b"), 204, "")
	if n := used(); n != 600 {
		t.Fatalf("used %d after delete", n)
	}
	noTemp(t, ts.cfg.Data)
	if !strings.Contains(ts.logs.String(), "quota refusal") {
		t.Fatal("the log does not record the quota refusal")
	}
	// A recount agrees.
	if n, err := admin.Recount(t.Context(), "alice"); err != nil || n != env+600 {
		t.Fatalf("recount %d %v", n, err)
	}
}

// pattern is a reader of n bytes of a repeating pattern, allocating
// nothing.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// A large object streams through the server in both directions: neither
// a PUT nor a GET holds it in memory.
func TestLargeObjectStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 48 MiB")
	}
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	const size = 48 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest("PUT", ts.URL()+"/v1/o/volumes/v/big", &pattern{n: size})
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+u.token)
	want(t, "put 48 MiB", ts.send(req), 204, "")
	req, _ = http.NewRequest("GET", ts.URL()+"/v1/o/volumes/v/big", nil)
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, bufio.NewReader(resp.Body))
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("get: %d bytes, %v", n, err)
	}
	w := sha256.New()
	io.Copy(w, &pattern{n: size})
	if !bytes.Equal(h.Sum(nil), w.Sum(nil)) {
		t.Fatal("the object read back differs")
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("a 48 MiB put and get allocated %d MiB", alloc>>20)
	}
	// A range across chunks.
	r := u.get("volumes/v/big", "Range", "bytes=262000-786999")
	if r.status != 206 || len(r.body) != 525000 || r.body[0] != byte(262000%251) || r.body[524999] != byte(786999%251) {
		t.Fatalf("range across chunks: %d, %d bytes", r.status, len(r.body))
	}
}

// Object requests beyond MaxObjectRequests wait ObjectWait for a slot,
// then get 503 with Retry-After.
func TestObjectSlots(t *testing.T) {
	ts := start(t, Config{Signup: true, MaxObjectRequests: 1, ObjectWait: 20 * time.Millisecond})
	u := ts.signup("alice")
	pr, pw := io.Pipe()
	done := make(chan reply)
	go func() {
		req, _ := http.NewRequest("PUT", ts.URL()+"/v1/o/volumes/v/slow", pr)
		req.ContentLength = 4
		req.Header.Set("Authorization", "Bearer "+u.token)
		done <- ts.send(req)
	}()
	for len(ts.objects) == 0 {
		time.Sleep(time.Millisecond) // polling the server's state, not synchronising
	}
	r := u.get("account")
	want(t, "get while the slot is taken", r, 503, codeUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	want(t, "list while the slot is taken", ts.do("GET", "/v1/list", u.token, nil), 503, codeUnavailable)
	want(t, "account routes do not take a slot", ts.do("GET", "/v1/account", u.token, nil), 200, "")
	pw.Write([]byte("slow"))
	pw.Close()
	want(t, "the slow put", <-done, 204, "")
	want(t, "get once the slot is free", u.get("volumes/v/slow"), 200, "")
}

// Puts of one name race: the object is one of them whole, and the usage
// counts it once.
func TestConcurrentPutsOfOneName(t *testing.T) {
	ts := start(t, Config{Signup: true})
	u := ts.signup("alice")
	done := make(chan reply)
	for i := range 8 {
		go func() { done <- u.put("volumes/v/same", bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1))) }()
	}
	for range 8 {
		want(t, "concurrent put", <-done, 204, "")
	}
	r := u.get("volumes/v/same")
	if len(r.body) == 0 || len(r.body) != 1000*int(r.body[0]-'a'+1) || !bytes.Equal(r.body, bytes.Repeat(r.body[:1], len(r.body))) {
		t.Fatalf("the object is not one put whole: %d bytes", len(r.body))
	}
	if a := u.info(); a.Used != int64(len(u.envelope)+len(r.body)) {
		t.Fatalf("used %d, want %d", a.Used, len(u.envelope)+len(r.body))
	}
	if _, err := os.Stat(ts.cfg.Data); err != nil {
		t.Fatal(err)
	}
}

// pieces records the length of each write.
type pieces struct {
	bytes.Buffer
	lens []int
	fail error
}

func (p *pieces) Write(b []byte) (int, error) {
	if p.fail != nil {
		return 0, p.fail
	}
	p.lens = append(p.lens, len(b))
	return p.Buffer.Write(b)
}

// TestCopyFull: a body read a few bytes at a time reaches the store in
// pieces of the whole buffer, the last one shorter, all of it in order; a
// read error and a write error end the copy and are returned.
func TestCopyFull(t *testing.T) {
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	var w pieces
	n, err := copyFull(&w, iotest.HalfReader(bytes.NewReader(data)), make([]byte, 4096))
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) {
		t.Fatalf("copied %d, %v; want %d bytes as given", n, err, len(data))
	}
	if fmt.Sprint(w.lens) != "[4096 4096 1808]" {
		t.Fatalf("pieces %v, want [4096 4096 1808]", w.lens)
	}
	boom := fmt.Errorf("boom")
	if _, err := copyFull(&pieces{}, iotest.TimeoutReader(bytes.NewReader(data)), make([]byte, 4096)); err != iotest.ErrTimeout {
		t.Fatalf("a read error gave %v", err)
	}
	if _, err := copyFull(&pieces{fail: boom}, bytes.NewReader(data), make([]byte, 4096)); err != boom {
		t.Fatalf("a write error gave %v", err)
	}
	if n, err := copyFull(&pieces{}, bytes.NewReader(nil), make([]byte, 4096)); n != 0 || err != nil {
		t.Fatalf("an empty body gave %d, %v", n, err)
	}
}
