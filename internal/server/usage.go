package server

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
)

// nameLocks is the number of locks that serialise the changes of one
// object name of one account (a name hashes to one of them).
const nameLocks = 256

// usage keeps each account's used bytes right while objects change
// concurrently. A put or delete of a name holds that name's lock from the
// moment it reads the old size until it has recorded the new one, so two
// changes of one name never both count the same old bytes. Bytes of puts
// in flight are reserved in memory against the quota, so that concurrent
// puts cannot pass it together; a crash loses reservations, never usage.
//
// Changes of used bytes are added up in memory and written to the
// database at most once per usageFlush (and at shutdown): one write
// transaction per second instead of one per object, so puts do not queue
// on the database's write lock. A crash loses the sums not yet written;
// the next start sees no clean-shutdown mark and recounts from the files.
type usage struct {
	seed  maphash.Seed
	locks [nameLocks]sync.Mutex

	mu       sync.Mutex
	reserved map[string]int64 // by account id: puts in flight
	pending  map[string]int64 // by account id: changes not yet in the database
	flushMu  sync.Mutex       // one flush at a time
}

// usageFlush is how often pending changes of used bytes are written.
const usageFlush = time.Second

func newUsage() *usage {
	return &usage{seed: maphash.MakeSeed(), reserved: make(map[string]int64), pending: make(map[string]int64)}
}

// pendingOf returns the change of an account's used bytes not yet in the
// database.
func (u *usage) pendingOf(accountID string) int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pending[accountID]
}

// lock takes the lock of one name of one account and returns its unlock.
func (u *usage) lock(accountID, name string) func() {
	var h maphash.Hash
	h.SetSeed(u.seed)
	h.WriteString(accountID)
	h.WriteByte(0)
	h.WriteString(name)
	m := &u.locks[h.Sum64()%nameLocks]
	m.Lock()
	return m.Unlock
}

// reserve checks that delta more bytes fit in the account's quota,
// counting the puts in flight, and holds them until release. The account
// is read under the lock: a put that finishes meanwhile adds to used
// before it releases its reservation, so it may be counted twice for a
// moment (refusing early), never not at all.
func (s *Server) reserve(ctx context.Context, accountID string, delta int64) (release func(), err error) {
	delta = max(delta, 0)
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	a, err := s.db.Account(ctx, accountID)
	if err != nil {
		return nil, err
	}
	inFlight := s.usage.reserved[accountID] + s.usage.pending[accountID]
	if a.Quota > 0 && delta > 0 && a.Used+inFlight+delta > a.Quota {
		return nil, &apiError{code: codeQuotaExceeded,
			msg: "the account's quota would be passed; nothing was stored"}
	}
	s.usage.reserved[accountID] += delta
	return func() {
		s.usage.mu.Lock()
		defer s.usage.mu.Unlock()
		if s.usage.reserved[accountID] -= delta; s.usage.reserved[accountID] <= 0 {
			delete(s.usage.reserved, accountID)
		}
	}, nil
}

// addUsed records delta more bytes used; flushUsage writes it to the
// database.
func (s *Server) addUsed(_ context.Context, accountID string, delta int64) {
	if delta == 0 {
		return
	}
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	s.usage.pending[accountID] += delta
}

// flushUsage writes the pending changes of used bytes to the database. An
// object is already stored or gone when its change is pending, so a
// failure is logged, not returned; the change stays pending for the next
// flush.
func (s *Server) flushUsage(ctx context.Context) {
	s.usage.flushMu.Lock()
	defer s.usage.flushMu.Unlock()
	s.usage.mu.Lock()
	todo := make(map[string]int64, len(s.usage.pending))
	for id, d := range s.usage.pending {
		todo[id] = d
	}
	s.usage.mu.Unlock()
	for id, delta := range todo {
		if err := s.db.AddUsed(context.WithoutCancel(ctx), id, delta); err != nil {
			s.log.Error("cannot record used bytes; will retry", "account", id, "delta", delta, "err", err)
			continue
		}
		// Taken off only once written: meanwhile a quota check counts the
		// change twice (refusing early), never not at all.
		s.usage.mu.Lock()
		if s.usage.pending[id] -= delta; s.usage.pending[id] == 0 {
			delete(s.usage.pending, id)
		}
		s.usage.mu.Unlock()
	}
}

// flushLoop flushes usage every usageFlush until ctx is done, then once
// more.
func (s *Server) flushLoop(ctx context.Context) {
	t := time.NewTicker(usageFlush)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flushUsage(ctx)
		case <-ctx.Done():
			s.flushUsage(ctx)
			return
		}
	}
}

// store returns the folder mirror of an account's objects. What a client
// uploads is dropped from the page cache once on disk (dir.DropWritten).
func (s *Server) store(accountID string) (*dir.Store, error) {
	st, err := dir.Create(accountDir(s.cfg.Data, accountID))
	if err != nil {
		return nil, err
	}
	return st.DropWritten(), nil
}

// sizeOf returns the size of an object, or 0 if there is none.
func sizeOf(ctx context.Context, st *dir.Store, name string) (int64, error) {
	info, err := st.Stat(ctx, name)
	if errors.Is(err, errors.NotExist) {
		return 0, nil
	}
	return info.Size, err
}

// acquire takes a slot to serve an object request, waiting up to
// ObjectWait for one; it returns the slot's release, or 503.
func (s *Server) acquire(ctx context.Context) (func(), error) {
	release := func() { <-s.objects }
	select {
	case s.objects <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(s.cfg.ObjectWait)
	defer t.Stop()
	select {
	case s.objects <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &apiError{code: codeUnavailable, msg: "too many object requests at once; retry", retryAfter: time.Second}
	case <-s.done:
		return nil, &apiError{code: codeUnavailable, msg: "the server is shutting down; retry", retryAfter: time.Second}
	case <-ctx.Done():
		return nil, errors.E(errors.Op("server.acquire"), ctx.Err())
	}
}
