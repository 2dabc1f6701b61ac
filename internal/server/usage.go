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
type usage struct {
	seed  maphash.Seed
	locks [nameLocks]sync.Mutex

	mu       sync.Mutex
	reserved map[string]int64 // by account id
}

func newUsage() *usage {
	return &usage{seed: maphash.MakeSeed(), reserved: make(map[string]int64)}
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
	inFlight := s.usage.reserved[accountID]
	if a.Quota > 0 && delta > 0 && a.Used+inFlight+delta > a.Quota {
		return nil, &apiError{code: codeQuotaExceeded,
			msg: "the account's quota would be passed; nothing was stored"}
	}
	s.usage.reserved[accountID] = inFlight + delta
	return func() {
		s.usage.mu.Lock()
		defer s.usage.mu.Unlock()
		if s.usage.reserved[accountID] -= delta; s.usage.reserved[accountID] <= 0 {
			delete(s.usage.reserved, accountID)
		}
	}, nil
}

// addUsed records delta more bytes used. An object is already stored or
// gone when this runs, so a failure is logged, not returned: the count is
// then off until an operator recounts it.
func (s *Server) addUsed(ctx context.Context, accountID string, delta int64) {
	if err := s.db.AddUsed(context.WithoutCancel(ctx), accountID, delta); err != nil {
		s.log.Error("cannot record used bytes; recount this account", "account", accountID, "delta", delta, "err", err)
	}
}

// store returns the folder mirror of an account's objects.
func (s *Server) store(accountID string) (*dir.Store, error) {
	return dir.Create(accountDir(s.cfg.Data, accountID))
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
