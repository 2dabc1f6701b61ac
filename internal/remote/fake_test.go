package remote

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
)

// fake is just enough of a dvpc server, in memory, for the client's tests:
// objects with ranges and pages of lists, a token, a watch, and failures
// on demand. The real server's test is server_test.go.
type fake struct {
	mu          sync.Mutex
	objects     map[string]fakeObject
	token       string
	pageSize    int                          // most names a page of List holds
	ignoreRange bool                         // answer 200 with the whole object to a Range
	bare416     bool                         // answer 416 without Content-Range
	inject      func(*http.Request) *failure // a failure to answer instead, or nil
	hits        map[string]int               // requests by "METHOD /path"
	bodies      map[string]map[string]any    // the last JSON body by path
	queries     map[string]string            // the last query by path
	puts        []string                     // names put, in order: the watch's log
	changed     chan struct{}                // closed and replaced at each put
	routes      map[string]func(w http.ResponseWriter, r *http.Request)
}

type fakeObject struct {
	data  []byte
	mtime time.Time
}

// failure is an error answer to give.
type failure struct {
	status     int
	code       string
	message    string
	retryAfter string
}

// newFake starts a fake server and returns it with a client logged in to
// it, whose retries do not wait long.
func newFake(t testing.TB) (*fake, *Client) {
	f, srv := startFake(t, false)
	c, err := New(srv.URL, Options{Token: f.token})
	if err != nil {
		t.Fatal(err)
	}
	c.retry = retryPolicy{attempts: 4, base: time.Millisecond, max: 4 * time.Millisecond, maxAfter: 2 * time.Second}
	t.Cleanup(c.Close)
	return f, c
}

// startFake starts a fake server, over TLS with a self-signed certificate
// if useTLS.
func startFake(t testing.TB, useTLS bool) (*fake, *httptest.Server) {
	f := &fake{
		objects:  map[string]fakeObject{},
		token:    "test-token",
		pageSize: 10000,
		hits:     map[string]int{},
		bodies:   map[string]map[string]any{},
		queries:  map[string]string{},
		changed:  make(chan struct{}),
		routes:   map[string]func(http.ResponseWriter, *http.Request){},
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return f, srv
}

// count returns how many requests "METHOD /path" the fake has had.
func (f *fake) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[key]
}

// query returns the query of the last request to path.
func (f *fake) query(path string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[path]
}

// body returns the JSON body of the last request to a path set with handle.
func (f *fake) body(path string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[path]
}

func (f *fake) setInject(fn func(*http.Request) *failure) {
	f.mu.Lock()
	f.inject = fn
	f.mu.Unlock()
}

// failN makes the next n requests to path fail with fl.
func (f *fake) failN(path string, n int, fl failure) {
	f.setInject(func(r *http.Request) *failure {
		if r.URL.Path != path || n == 0 {
			return nil
		}
		n--
		return &fl
	})
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.hits[r.Method+" "+r.URL.Path]++
	f.queries[r.URL.Path] = r.URL.RawQuery
	var fl *failure
	if f.inject != nil {
		fl = f.inject(r)
	}
	route := f.routes[r.URL.Path]
	f.mu.Unlock()
	switch {
	case fl != nil:
		if fl.retryAfter != "" {
			w.Header().Set("Retry-After", fl.retryAfter)
		}
		fail(w, fl.status, fl.code, fl.message)
	case route != nil:
		route(w, r)
	case strings.HasPrefix(r.URL.Path, "/v1/o/"):
		if f.authorized(w, r) {
			f.object(w, r, strings.TrimPrefix(r.URL.Path, "/v1/o/"))
		}
	case r.URL.Path == "/v1/list":
		if f.authorized(w, r) {
			f.list(w, r)
		}
	case r.URL.Path == "/v1/watch":
		if f.authorized(w, r) {
			f.watch(w, r)
		}
	default:
		fail(w, 404, "not_found", "no such route")
	}
}

func fail(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "message": message})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (f *fake) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		fail(w, 401, "unauthenticated", "no token, or an unknown one")
		return false
	}
	return true
}

func (f *fake) object(w http.ResponseWriter, r *http.Request, name string) {
	if blob.ValidName(name) != nil {
		fail(w, 400, "invalid", "bad object name")
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.put(w, r, name)
	case http.MethodGet, http.MethodHead:
		f.get(w, r, name)
	case http.MethodDelete:
		f.mu.Lock()
		delete(f.objects, name)
		f.mu.Unlock()
		w.WriteHeader(204)
	}
}

func (f *fake) put(w http.ResponseWriter, r *http.Request, name string) {
	if r.ContentLength < 0 {
		fail(w, 400, "invalid", "Content-Length is required")
		return
	}
	data, err := io.ReadAll(r.Body)
	if err != nil || int64(len(data)) != r.ContentLength {
		fail(w, 400, "invalid", "short body")
		return
	}
	if sum, ok := blob.Sum(name); ok && sha256.Sum256(data) != sum {
		fail(w, 422, "corrupt", "the bytes do not match the SHA-256 the name promises")
		return
	}
	f.mu.Lock()
	f.objects[name] = fakeObject{data: data, mtime: time.Now()}
	f.puts = append(f.puts, name)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	w.WriteHeader(204)
}

func (f *fake) get(w http.ResponseWriter, r *http.Request, name string) {
	f.mu.Lock()
	obj, ok := f.objects[name]
	ignore, bare := f.ignoreRange, f.bare416
	f.mu.Unlock()
	if !ok {
		fail(w, 404, "not_found", "no such object")
		return
	}
	size := int64(len(obj.data))
	h := w.Header()
	h.Set("X-Dvpc-Mtime", strconv.FormatInt(obj.mtime.UnixNano(), 10))
	first, last, ranged := parseFakeRange(r.Header.Get("Range"), size)
	switch {
	case !ranged || ignore:
		first, last = 0, size-1
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(200)
	case first >= size:
		if !bare {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		}
		fail(w, 416, "bad_range", "unsatisfiable range")
		return
	default:
		h.Set("Content-Range", "bytes "+strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10)+"/"+strconv.FormatInt(size, 10))
		h.Set("Content-Length", strconv.FormatInt(last-first+1, 10))
		w.WriteHeader(206)
	}
	if r.Method == http.MethodGet && size > 0 {
		w.Write(obj.data[first : last+1])
	}
}

// parseFakeRange reads "bytes=A-B" or "bytes=A-", with B truncated to the
// object.
func parseFakeRange(v string, size int64) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return 0, 0, false
	}
	a, b, _ := strings.Cut(spec, "-")
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		if l, err := strconv.ParseInt(b, 10, 64); err == nil && l < last {
			last = l
		}
	}
	return first, last, true
}

func (f *fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	prefix, after := q.Get("prefix"), q.Get("after")
	limit := f.pageSize
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 && l < limit {
		limit = l
	}
	f.mu.Lock()
	var names []string
	for name := range f.objects {
		if strings.HasPrefix(name, prefix) && name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	type entry struct {
		Name  string    `json:"name"`
		Size  int       `json:"size"`
		MTime time.Time `json:"mtime"`
	}
	page := struct {
		Objects []entry `json:"objects"`
		More    bool    `json:"more"`
	}{Objects: []entry{}}
	for i, name := range names {
		if i == limit {
			page.More = true
			break
		}
		page.Objects = append(page.Objects, entry{name, len(f.objects[name].data), f.objects[name].mtime.UTC()})
	}
	f.mu.Unlock()
	reply(w, page)
}

// watch answers the names put after the cursor, an index into f.puts,
// waiting for one until the timeout.
func (f *fake) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	secs, _ := strconv.Atoi(q.Get("timeout"))
	deadline := time.After(time.Duration(secs) * time.Second)
	for {
		f.mu.Lock()
		now, changed := len(f.puts), f.changed
		cursor, err := strconv.Atoi(q.Get("cursor"))
		var names []string
		if err == nil && cursor <= now {
			for _, name := range f.puts[cursor:] {
				if strings.HasPrefix(name, q.Get("prefix")) {
					names = append(names, name)
				}
			}
		}
		f.mu.Unlock()
		if err != nil || len(names) > 0 || q.Get("cursor") == "" {
			reply(w, map[string]any{"cursor": strconv.Itoa(now), "names": names, "reset": false})
			return
		}
		select {
		case <-changed:
		case <-deadline:
			reply(w, map[string]any{"cursor": strconv.Itoa(now), "names": []string{}, "reset": false})
			return
		case <-r.Context().Done():
			return
		}
	}
}

// handle answers path with fn, recording the JSON body of each request.
func (f *fake) handle(path string, fn func(w http.ResponseWriter, r *http.Request, body map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[path] = func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if len(b) > 0 {
			if err := json.Unmarshal(b, &body); err != nil {
				fail(w, 400, "invalid", "bad JSON")
				return
			}
		}
		f.mu.Lock()
		f.bodies[path] = body
		f.mu.Unlock()
		fn(w, r, body)
	}
}
