package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/server/meta"
)

const (
	reapEvery  = time.Hour      // how often the reaper runs
	tempMaxAge = 24 * time.Hour // a temporary file untouched this long is a dead put's
	maxMarker  = 64             // bytes in a deletion marker
)

// deletedMarker is the object whose presence in a volume's folder says the
// client deleted the volume; its body is the time, RFC 3339.
const deletedMarker = "deleted"

// reapLoop runs reap at start and every reapEvery until ctx ends.
func (s *Server) reapLoop(ctx context.Context) {
	t := time.NewTicker(reapEvery)
	defer t.Stop()
	for {
		if err := s.reap(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("reaper", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// reap deletes, in every account, the volumes deleted more than Grace
// ago, and the temporary files of puts that died.
func (s *Server) reap(ctx context.Context) error {
	accounts, err := s.db.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		st, err := s.store(a.ID)
		if err != nil {
			return err
		}
		if _, err := st.Sweep(tempMaxAge); err != nil {
			s.log.Warn("cannot sweep temporary files", "account", a.ID, "err", err)
		}
		if err := s.reapAccount(ctx, st, a); err != nil {
			return err
		}
	}
	return nil
}

// reapAccount reaps the deleted volumes of one account.
func (s *Server) reapAccount(ctx context.Context, st *dir.Store, a meta.Account) error {
	entries, err := os.ReadDir(filepath.Join(st.Root(), "volumes"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return errors.E(errors.Op("server.reap"), errors.IO, a.ID, err)
	}
	for _, e := range entries {
		vol := "volumes/" + e.Name()
		if !e.IsDir() || blob.ValidName(vol) != nil {
			continue
		}
		at, ok := s.deletedAt(ctx, st, vol+"/"+deletedMarker)
		if !ok || s.cfg.Now().Sub(at) < s.cfg.Grace {
			continue
		}
		if err := s.reapVolume(ctx, st, a, vol); err != nil {
			return err
		}
	}
	return nil
}

// deletedAt returns when a volume was deleted, if its marker is there:
// the later of the time the client wrote in it and the time the server
// stored it, so that a client's wrong clock cannot shorten the grace.
func (s *Server) deletedAt(ctx context.Context, st *dir.Store, marker string) (time.Time, bool) {
	info, err := st.Stat(ctx, marker)
	if err != nil {
		return time.Time{}, false
	}
	b, err := st.Get(ctx, marker, 0, maxMarker+1)
	if err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil || len(b) > maxMarker {
		s.log.Warn("ignoring a deletion marker that is not an RFC 3339 time", "object", marker)
		return time.Time{}, false
	}
	if info.ModTime.After(t) {
		t = info.ModTime
	}
	return t, true
}

// reapVolume deletes every object of a volume, its marker last, so that
// an interrupted reap is taken up again by the next.
func (s *Server) reapVolume(ctx context.Context, st *dir.Store, a meta.Account, vol string) error {
	marker := vol + "/" + deletedMarker
	var n, bytes int64
	err := st.List(ctx, vol+"/", func(info blob.Info) error {
		if info.Name == marker {
			return nil
		}
		n, bytes = n+1, bytes+info.Size
		return s.remove(ctx, st, a.ID, info.Name)
	})
	if err == nil {
		err = s.remove(ctx, st, a.ID, marker)
	}
	s.log.Info("reaped a deleted volume past its grace", "account", a.ID, "user", a.User, "volume", vol, "objects", n, "bytes", bytes)
	return err
}
