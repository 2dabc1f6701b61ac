package replica_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/blob/mem"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/replica"
)

// errDown is what a mirror that cannot be reached answers.
var errDown = errors.E(errors.Unavailable, errors.Str("unplugged (test)"))

// mirror returns a mirror of one endpoint, named after its id.
func mirror(id string, s blob.Store) replica.Mirror {
	return replica.Mirror{ID: id, Name: "mirror-" + id, Endpoints: []replica.Endpoint{{Name: "ep-" + id, Store: s}}}
}

func newSet(t testing.TB, o replica.Options, ms ...replica.Mirror) *replica.Set {
	t.Helper()
	s, err := replica.New(ms, o)
	if err != nil {
		t.Fatalf("replica.New: %v", err)
	}
	return s
}

func newDir(t testing.TB) *dir.Store {
	t.Helper()
	d, err := dir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// randBytes returns n bytes determined by seed.
func randBytes(seed uint64, n int) []byte {
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7})
	b := make([]byte, n)
	r.Read(b)
	return b
}

// hashName returns prefix followed by the hex SHA-256 of data.
func hashName(prefix string, data []byte) string {
	sum := sha256.Sum256(data)
	return prefix + hex.EncodeToString(sum[:])
}

func mustPut(t testing.TB, s blob.Store, name string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), name, data); err != nil {
		t.Fatalf("Put(%.40s): %v", name, err)
	}
}

// checkHas fails t unless s holds exactly data under name.
func checkHas(t testing.TB, what string, s blob.Store, name string, data []byte) {
	t.Helper()
	got, err := s.Get(t.Context(), name, 0, -1)
	if err != nil {
		t.Fatalf("%s: Get(%.40s): %v", what, name, err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s: Get(%.40s) = %d bytes %.8x..., want %d bytes %.8x...", what, name, len(got), got, len(data), data)
	}
}

// checkLacks fails t unless s says name does not exist.
func checkLacks(t testing.TB, what string, s blob.Store, name string) {
	t.Helper()
	if _, err := s.Stat(t.Context(), name); !errors.Is(err, errors.NotExist) {
		t.Fatalf("%s: Stat(%.40s) = %v, want NotExist", what, name, err)
	}
}

// checkKind fails t unless err has kind k.
func checkKind(t testing.TB, what string, err error, k errors.Kind) {
	t.Helper()
	if got := errors.KindOf(err); got != k {
		t.Fatalf("%s: error %v has kind %q, want %q", what, err, got, k)
	}
}

// names lists s under prefix.
func names(t testing.TB, s blob.Store, prefix string) []string {
	t.Helper()
	var out []string
	err := s.List(t.Context(), prefix, func(i blob.Info) error {
		out = append(out, i.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return out
}

// recorder is a store that records the names of the Puts that reached it,
// in order.
type recorder struct {
	blob.Store
	mu   sync.Mutex
	puts []string
}

func (r *recorder) Put(ctx context.Context, name string, data []byte) error {
	err := r.Store.Put(ctx, name, data)
	if err == nil {
		r.mu.Lock()
		r.puts = append(r.puts, name)
		r.mu.Unlock()
	}
	return err
}

func (r *recorder) Puts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.puts)
}

// stuck is a store whose reads (Get, ReadAt, Stat) block until their
// context is cancelled: a mirror that hangs. It reports on returned how
// each blocked call ended: the context's error, or errNotCancelled if no
// one cancelled it within a generous safety limit (so that a bug shows as
// a failure, not a hung test).
type stuck struct {
	blob.Store
	once     sync.Once
	started  chan struct{} // closed when the first read blocks
	returned chan error
}

var errNotCancelled = errors.Str("the blocked call was never cancelled")

func newStuck(inner blob.Store) *stuck {
	return &stuck{Store: inner, started: make(chan struct{}), returned: make(chan error, 100)}
}

func (s *stuck) block(ctx context.Context) error {
	s.once.Do(func() { close(s.started) })
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errNotCancelled
	}
	s.returned <- err
	return errors.E(errors.Unavailable, err)
}

func (s *stuck) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	return nil, s.block(ctx)
}

func (s *stuck) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	return 0, s.block(ctx)
}

func (s *stuck) Stat(ctx context.Context, name string) (blob.Info, error) {
	return blob.Info{}, s.block(ctx)
}

// stuckPuts is a store whose Puts block until their context is cancelled:
// a mirror too slow for a write.
type stuckPuts struct {
	blob.Store
	returned chan error
}

func (s *stuckPuts) Put(ctx context.Context, name string, data []byte) error {
	<-ctx.Done()
	s.returned <- ctx.Err()
	return errors.E(errors.Unavailable, ctx.Err())
}

// swapped is a store that serves the bytes of another object for one
// name: a mirror that mixed up its files.
type swapped struct {
	blob.Store
	name, other string
}

func (s *swapped) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	if name == s.name {
		name = s.other
	}
	return s.Store.Get(ctx, name, off, length)
}

// streamFault is a store that streams through blob.Create of its inner
// store, but whose Create or Commit fails while the matching error is set.
// Put passes through, so that Drain can deliver to it.
type streamFault struct {
	blob.Store
	mu             sync.Mutex
	create, commit error
	commits        int // Commits that reached the inner writer
}

func (s *streamFault) set(create, commit error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.create, s.commit = create, commit
}

func (s *streamFault) Create(ctx context.Context) (blob.ObjectWriter, error) {
	s.mu.Lock()
	err := s.create
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	w, err := blob.Create(ctx, s.Store)
	if err != nil {
		return nil, err
	}
	return &faultWriter{ObjectWriter: w, s: s}, nil
}

type faultWriter struct {
	blob.ObjectWriter
	s *streamFault
}

func (w *faultWriter) Commit(ctx context.Context, name string) error {
	w.s.mu.Lock()
	err := w.s.commit
	if err == nil {
		w.s.commits++
	}
	w.s.mu.Unlock()
	if err != nil {
		w.ObjectWriter.Abort()
		return err
	}
	return w.ObjectWriter.Commit(ctx, name)
}

// twoCopies returns two in-memory mirrors that both hold data under name.
func twoCopies(t *testing.T, name string, data []byte) (a, b *mem.Store) {
	t.Helper()
	a, b = mem.New(), mem.New()
	mustPut(t, a, name, data)
	mustPut(t, b, name, data)
	return a, b
}
