package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// raw sends a request line as given, bypassing any client's cleaning of
// the path, and returns the status and body.
func (ts *testServer) raw(t *testing.T, method, target, token string, body []byte) (int, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, token, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %q: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// One account cannot read, list, overwrite or delete another's objects,
// whatever path it sends.
func TestAccountIsolation(t *testing.T) {
	ts := start(t, Config{Signup: true})
	alice, bob := ts.signup("alice"), ts.signup("bob")
	secret := []byte("alice's secret bytes")
	for _, n := range []string{"x", "volumes/v1/secret", "volumes/v1/data/aa/obj"} {
		want(t, "alice puts "+n, alice.put(n, secret), 204, "")
	}
	before := snapshot(t, accountDir(ts.cfg.Data, alice.account))
	id := alice.account
	targets := []string{
		"/v1/o/x/../../" + id + "/x",
		"/v1/o/../accounts/" + id + "/x",
		"/v1/o/../../accounts/" + id + "/volumes/v1/secret",
		"/v1/o/%2e%2e/%2e%2e/accounts/" + id + "/x",
		"/v1/o/%2E%2E%2F%2E%2E%2Faccounts%2F" + id + "%2Fx",
		"/v1/o/..%2f..%2f" + id + "%2fx",
		"/v1/o/accounts/" + id + "/x",
		"/v1/o/" + id + "/x",
		"/v1/o//" + ts.cfg.Data + "/accounts/" + id + "/x",
		"/v1/o/%2F" + strings.TrimPrefix(ts.cfg.Data, "/") + "/accounts/" + id + "/x",
		"/v1/o/./x",
		"/v1/o/x/.",
		"/v1/o/volumes/v1/secret%00",
		"/v1/o/volumes\\..\\..\\" + id + "\\x",
		"/v1/o/" + strings.Repeat("a/", 300) + "x",
		"/v1/o/" + strings.Repeat("b", 300),
		"/v1/o/" + strings.Repeat("../", 40) + "etc/passwd",
		"/v1/o/%252e%252e/" + id + "/x",
		"/v1/o/volumes/v1/secret?account=" + id,
		"/v1/accounts/" + id + "/o/x",
		"/v1/o/" + id + "%2Fvolumes%2Fv1%2Fsecret",
		"http://x/v1/o/../" + id + "/x",
	}
	for _, target := range targets {
		for _, method := range []string{"GET", "HEAD", "PUT", "DELETE"} {
			var body []byte
			if method == "PUT" {
				body = []byte("bob was here")
			}
			status, b := ts.raw(t, method, target, bob.token, body)
			if bytes.Contains(b, secret) {
				t.Fatalf("%s %s by bob: got alice's bytes", method, target)
			}
			if (method == "GET" || method == "HEAD") && status < 300 {
				t.Fatalf("%s %s by bob: %d", method, target, status)
			}
		}
	}
	for _, q := range []string{"", "prefix=../", "prefix=" + id, "prefix=%2e%2e%2f", "prefix=/", "after=../"} {
		status, b := ts.raw(t, "GET", "/v1/list?"+q, bob.token, nil)
		if bytes.Contains(b, []byte("volumes/v1/secret")) || bytes.Contains(b, []byte(`"x"`)) {
			t.Fatalf("bob's list %q shows alice's objects: %d %s", q, status, b)
		}
	}
	// Nothing of alice's changed, and nothing was written outside the two
	// accounts' folders.
	if after := snapshot(t, accountDir(ts.cfg.Data, alice.account)); after != before {
		t.Fatalf("alice's folder changed:\nbefore %s\nafter  %s", before, after)
	}
	for _, n := range []string{"x", "volumes/v1/secret"} {
		if r := alice.get(n); !bytes.Equal(r.body, secret) {
			t.Fatalf("alice's %s after bob's tries: %s", n, r)
		}
	}
	filepath.WalkDir(ts.cfg.Data, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(ts.cfg.Data, p)
		top := strings.Split(filepath.ToSlash(rel), "/")
		ok := rel == "." || top[0] == "accounts" && (len(top) == 1 || top[1] == alice.account || top[1] == bob.account) ||
			strings.HasPrefix(top[0], "meta.db") || top[0] == "lock"
		if !ok {
			t.Errorf("a file outside the accounts' folders: %s", p)
		}
		return nil
	})
	// Bob's own namespace holds what he put, under his names only.
	for _, o := range bob.list("").Objects {
		if strings.Contains(o.Name, "..") || strings.HasPrefix(o.Name, "/") {
			t.Fatalf("bob has an object named %q", o.Name)
		}
	}
}

// snapshot describes every file under root: name, size and content.
func snapshot(t *testing.T, root string) string {
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s:%q ", rel, data)
		return nil
	})
	return b.String()
}
