package replica

import (
	"context"
)

// CatchUp copies to each reachable mirror what the listings of this
// session found on another mirror and not on it, if that is at most limit
// objects for the mirror: the quick mend of a mirror that missed a few
// writes while away. It returns how many copies it made. A larger gap is
// left to Check with Repair, which reports progress.
func (s *Set) CatchUp(ctx context.Context, limit int) (int, error) {
	copied := 0
	for _, m := range s.members {
		if m.down() {
			continue
		}
		names := s.Lacking(m.ID, "")
		if len(names) == 0 || len(names) > limit {
			continue
		}
		for _, n := range names {
			b, err := s.fetch(ctx, n, nil, m)
			if err != nil {
				continue // perhaps only on a mirror out of reach now
			}
			if err := m.Put(ctx, n, b); err != nil {
				break // this mirror refuses now; the next session tries again
			}
			s.mu.Lock()
			delete(s.lacking[m.ID], n)
			s.mu.Unlock()
			copied++
		}
	}
	return copied, ctx.Err()
}
