package replica

import (
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Progress is how far a long operation has come.
type Progress struct {
	Objects, TotalObjects int64
	Bytes, TotalBytes     int64
}

// ProgressFunc is called from time to time, and from several goroutines.
type ProgressFunc func(Progress)

type progress struct {
	fn                 ProgressFunc
	n, total, b, bytes atomic.Int64
}

func (p *progress) add(objects, bytes int64) {
	p.n.Add(objects)
	p.b.Add(bytes)
	if p.fn != nil {
		p.fn(Progress{p.n.Load(), p.total.Load(), p.b.Load(), p.bytes.Load()})
	}
}

// fetch returns a good copy of name, whole and checked against the hash
// its name promises: from this PC's outbox if it holds one, else from
// prefer (if not nil), else from the other mirrors not in skip, fastest
// first. A copy that fails its hash is noted as damage and passed over.
func (s *Set) fetch(ctx context.Context, name string, prefer *member, skip ...*member) ([]byte, error) {
	if s.out != nil && s.out.has(name) {
		if b, err := s.out.objects.Get(ctx, name, 0, -1); err == nil && verifies(name, b) {
			return b, nil
		}
	}
	try := []*member{}
	if prefer != nil {
		try = append(try, prefer)
	}
	for _, m := range s.ordered() {
		if m != prefer && !contains(skip, m) {
			try = append(try, m)
		}
	}
	var last error = errors.E(errors.NotExist, name, errors.Str("no mirror holds a good copy"))
	for _, m := range try {
		b, err := m.Get(ctx, name, 0, -1)
		if err != nil {
			if !errors.Is(err, errors.NotExist) {
				last = err
			}
			continue
		}
		if !verifies(name, b) {
			s.noteDamage(m, name)
			continue
		}
		return b, nil
	}
	return nil, last
}

// DrainReport is what Drain delivered and what still waits.
type DrainReport struct {
	Delivered int
	Waiting   map[string]int // by mirror name: objects still queued
	Errors    map[string]error
}

// Drain delivers the queued objects to the mirrors that lack them, oldest
// first, each mirror on its own; a mirror that cannot be reached keeps its
// queue for the next time. It is safe to interrupt: an object leaves a
// queue only once its mirror holds it.
func (s *Set) Drain(ctx context.Context, fn ProgressFunc) (*DrainReport, error) {
	return s.drain(ctx, fn, false)
}

// DrainReachable is Drain for the mirrors not found out of reach a moment
// ago: the queues of the others wait for the next time, without a wait for
// a mirror that just failed to answer.
func (s *Set) DrainReachable(ctx context.Context, fn ProgressFunc) (*DrainReport, error) {
	return s.drain(ctx, fn, true)
}

func (s *Set) drain(ctx context.Context, fn ProgressFunc, skipDown bool) (*DrainReport, error) {
	rep := &DrainReport{Waiting: map[string]int{}, Errors: map[string]error{}}
	if s.out == nil {
		return rep, nil
	}
	p := &progress{fn: fn}
	for _, m := range s.members {
		p.total.Add(int64(len(s.out.pending(m.ID))))
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, m := range s.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			var err error
			if skipDown && m.down() {
				err = errors.E(errors.Unavailable, errors.Str("not reachable a moment ago"))
			} else {
				n, err = s.drainOne(ctx, m, p)
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Delivered += n
			if left := len(s.out.pending(m.ID)); left > 0 {
				rep.Waiting[m.Name] = left
			}
			if err != nil {
				rep.Errors[m.Name] = err
			}
		}()
	}
	wg.Wait()
	return rep, ctx.Err()
}

func (s *Set) drainOne(ctx context.Context, m *member, p *progress) (int, error) {
	delivered := 0
	for _, q := range s.out.pending(m.ID) {
		if ctx.Err() != nil {
			return delivered, ctx.Err()
		}
		b, err := s.fetch(ctx, q.name, nil, m)
		if err != nil {
			if errors.Is(err, errors.NotExist) {
				// No other copy: the mirror has it already (a drain cut
				// short), or it was deleted since. Either way there is
				// nothing to deliver, unless the mirror cannot say.
				if _, serr := m.Stat(ctx, q.name); serr == nil || errors.Is(serr, errors.NotExist) {
					s.out.done(ctx, m.ID, q)
					continue
				}
			}
			return delivered, err
		}
		if err := m.Put(ctx, q.name, b); err != nil {
			return delivered, err // out of reach, full: try again later
		}
		if err := s.out.done(ctx, m.ID, q); err != nil {
			return delivered, err
		}
		delivered++
		p.add(1, int64(len(b)))
	}
	return delivered, nil
}

// Queued returns how many objects wait for each mirror, by id.
func (s *Set) Queued() map[string]int {
	out := map[string]int{}
	if s.out == nil {
		return out
	}
	for _, m := range s.members {
		if n := len(s.out.pending(m.ID)); n > 0 {
			out[m.ID] = n
		}
	}
	return out
}

// Unsafe returns the objects kept only on this PC and fewer mirrors than
// the quorum, with the given prefix: writes that are not yet safe.
func (s *Set) Unsafe(prefix string) []string {
	if s.out == nil {
		return nil
	}
	// The bytes stay here until every mirror that lacks them has them,
	// but once a quorum holds them they are safe.
	ids := make([]string, len(s.members))
	for i, m := range s.members {
		ids[i] = m.ID
	}
	waiting := s.out.waitingFor(ids)
	var out []string
	for _, n := range s.out.localNames(prefix) {
		if len(s.members)-waiting[n] < s.quorum {
			out = append(out, n)
		}
	}
	return out
}

// Lacking returns, for the mirror with id, what the last listing of each
// prefix found on another mirror and not on it, and not queued for it
// either: lost, withheld, or written by another PC that has not caught it
// up yet.
func (s *Set) Lacking(id string, prefix string) []string {
	s.mu.Lock()
	var out []string
	for n := range s.lacking[id] {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	s.mu.Unlock()
	sort.Strings(out)
	var keep []string
	for _, n := range out {
		if s.out == nil || !s.out.waits(id, n) {
			keep = append(keep, n)
		}
	}
	return keep
}

// MirrorStatus is what status shows of one mirror.
type MirrorStatus struct {
	ID        string
	Name      string
	Removable bool
	Reachable bool
	Latency   time.Duration // of the preferred endpoint
	Queued    int           // objects this PC's outbox holds for it
	Endpoints []EndpointStatus
}

// EndpointStatus is one endpoint of a mirror.
type EndpointStatus struct {
	Name      string
	Reachable bool
	Latency   time.Duration
	Preferred bool // reads go here first
	Err       string
}

// Status probes every endpoint of every mirror (a Stat of probe, which
// need not exist) and returns what it found.
func (s *Set) Status(ctx context.Context, probe string) []MirrorStatus {
	out := make([]MirrorStatus, len(s.members))
	var wg sync.WaitGroup
	for i, m := range s.members {
		out[i] = MirrorStatus{ID: m.ID, Name: m.Name, Removable: m.Removable}
		if s.out != nil {
			out[i].Queued = len(s.out.pending(m.ID))
		}
		out[i].Endpoints = make([]EndpointStatus, len(m.eps))
		for j, e := range m.eps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				start := time.Now()
				_, err := e.Store.Stat(ctx, probe)
				if errors.Is(err, errors.NotExist) {
					err = nil
				}
				e.done(start, 0, err)
				st := EndpointStatus{Name: e.Name, Reachable: err == nil, Latency: time.Since(start)}
				if err != nil {
					st.Err = err.Error()
				}
				out[i].Endpoints[j] = st
			}()
		}
	}
	wg.Wait()
	for i, m := range s.members {
		best := -1
		for j, e := range out[i].Endpoints {
			if e.Reachable && (best < 0 || e.Latency < out[i].Endpoints[best].Latency) {
				best = j
			}
		}
		if best >= 0 {
			out[i].Reachable = true
			out[i].Latency = out[i].Endpoints[best].Latency
			// What reads prefer is the order the set keeps.
			first := m.order()[0]
			for j, e := range m.eps {
				out[i].Endpoints[j].Preferred = e == first
			}
		}
	}
	return out
}

// CheckOptions configure Check.
type CheckOptions struct {
	Repair bool // copy what is missing or damaged from a good copy
	// ReadData reads every copy on every mirror and checks its hash;
	// without it copies are compared by name and size, and every copy
	// that repair reads is checked.
	ReadData bool
	Progress ProgressFunc
}

// Problem is one copy that is missing or damaged.
type Problem struct {
	Name   string // the object
	Mirror string // the mirror's name
	Damage string // "missing", "damaged", "size differs"
}

// Report is what Check found and did.
type Report struct {
	Objects     int       // distinct objects on the mirrors
	Problems    []Problem // copies missing or damaged
	Repaired    int       // of those, copies written from a good one
	Failed      []Problem // problems repair could not fix, and why
	BelowQuorum []string  // objects on fewer than the quorum of mirrors, after repair
	Unreachable []string  // mirrors that could not be listed
	Differ      []string  // objects not named by a hash whose copies differ
}

// Check compares the mirrors object by object; see CheckOptions. The
// mirrors that cannot be listed are reported and left out; an object that
// only they hold is not seen.
func (s *Set) Check(ctx context.Context, o CheckOptions) (*Report, error) {
	rep := &Report{}
	type copies map[*member]blob.Info
	all := map[string]copies{}
	var mu sync.Mutex
	var reachable []*member
	var wg sync.WaitGroup
	for _, m := range s.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var names []blob.Info
			err := m.List(ctx, "", func(i blob.Info) error {
				names = append(names, i)
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Unreachable = append(rep.Unreachable, m.Name+": "+err.Error())
				return
			}
			reachable = append(reachable, m)
			for _, i := range names {
				if all[i.Name] == nil {
					all[i.Name] = copies{}
				}
				all[i.Name][m] = i
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(reachable) == 0 {
		return nil, errors.E(errors.Op("replica.Check"), errors.Unavailable, errors.Str("no mirror could be listed"))
	}
	sort.Slice(rep.Unreachable, func(i, j int) bool { return rep.Unreachable[i] < rep.Unreachable[j] })
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	rep.Objects = len(names)

	// Find the problems, reading every copy only with ReadData.
	type todo struct {
		name  string
		bad   []*member // lacking or damaged
		good  *member   // a mirror whose copy is believed good, or nil
		fixed []*member // of bad, those repaired
	}
	var work []todo
	p := &progress{fn: o.Progress}
	for _, n := range names {
		cs := all[n]
		var size int64 = -1
		_, hashed := blob.Sum(n)
		sizes := map[int64]int{}
		for _, i := range cs {
			sizes[i.Size]++
		}
		for sz, c := range sizes {
			if size < 0 || c > sizes[size] {
				size = sz
			}
		}
		if hashed && len(sizes) > 1 {
			// The copies disagree, perhaps evenly: the size is that of a
			// copy that matches the hash in the name, whatever most say.
			if sz, ok := s.trueSize(ctx, n, cs); ok {
				size = sz
			}
		}
		t := todo{name: n}
		for _, m := range reachable {
			i, ok := cs[m]
			switch {
			case !ok:
				t.bad = append(t.bad, m)
				rep.Problems = append(rep.Problems, Problem{n, m.Name, "missing"})
			case i.Size != size && hashed:
				t.bad = append(t.bad, m)
				rep.Problems = append(rep.Problems, Problem{n, m.Name, "size differs"})
			default:
				if t.good == nil {
					t.good = m
				}
			}
		}
		if !hashed && len(sizes) > 1 {
			rep.Differ = append(rep.Differ, n)
		}
		work = append(work, t)
		p.total.Add(1)
		p.bytes.Add(size)
	}
	if o.ReadData {
		// Read every copy, several at once per mirror.
		type job struct {
			i int
			m *member
		}
		jobs := make(chan job)
		var wg sync.WaitGroup
		for w := 0; w < 4*len(reachable); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range jobs {
					n := work[j.i].name
					b, err := j.m.Get(ctx, n, 0, -1)
					damaged := err == nil && !verifies(n, b)
					if err == nil && !damaged {
						p.add(0, int64(len(b)))
						continue
					}
					mu.Lock()
					what := "damaged"
					if err != nil {
						what = "unreadable: " + err.Error()
					}
					rep.Problems = append(rep.Problems, Problem{n, j.m.Name, what})
					t := &work[j.i]
					t.bad = append(t.bad, j.m)
					if t.good == j.m {
						t.good = nil
					}
					mu.Unlock()
				}
			}()
		}
		for i, t := range work {
			for _, m := range reachable {
				if _, ok := all[t.name][m]; ok && !contains(t.bad, m) && ctx.Err() == nil {
					jobs <- job{i, m}
				}
			}
		}
		close(jobs)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	// Repair, several objects at once.
	if o.Repair {
		jobs := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					t := work[i]
					if _, hashed := blob.Sum(t.name); hashed && len(t.bad) == 1 && t.good != nil {
						// The common case, one copy to make from a good one:
						// streamed, its hash checked by the writer's Commit.
						if n, err := copyObject(ctx, t.name, t.good, t.bad[0]); err == nil {
							mu.Lock()
							rep.Repaired++
							work[i].fixed = append(work[i].fixed, t.bad[0])
							mu.Unlock()
							p.add(1, n)
							continue
						}
					}
					b, err := s.fetch(ctx, t.name, t.good, t.bad...)
					if err != nil {
						mu.Lock()
						for _, m := range t.bad {
							rep.Failed = append(rep.Failed, Problem{t.name, m.Name, "no good copy to repair from: " + err.Error()})
						}
						mu.Unlock()
						continue
					}
					for _, m := range t.bad {
						err := m.Put(ctx, t.name, b)
						mu.Lock()
						if err != nil {
							rep.Failed = append(rep.Failed, Problem{t.name, m.Name, err.Error()})
						} else {
							rep.Repaired++
							work[i].fixed = append(work[i].fixed, m)
						}
						mu.Unlock()
						if err == nil {
							p.add(0, int64(len(b)))
						}
					}
					p.add(1, 0)
				}
			}()
		}
		for i, t := range work {
			if len(t.bad) > 0 && ctx.Err() == nil {
				jobs <- i
			}
		}
		close(jobs)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	for _, t := range work {
		good := 0
		for _, m := range reachable {
			_, has := all[t.name][m]
			if has && !contains(t.bad, m) || contains(t.fixed, m) {
				good++
			}
		}
		if good < s.quorum {
			rep.BelowQuorum = append(rep.BelowQuorum, t.name)
		}
	}
	sortProblems(rep.Problems)
	sortProblems(rep.Failed)
	return rep, nil
}

// trueSize returns the size of a copy of name, among cs, whose bytes match
// the hash its name promises.
func (s *Set) trueSize(ctx context.Context, name string, cs map[*member]blob.Info) (int64, bool) {
	for m, i := range cs {
		if b, err := m.Get(ctx, name, 0, -1); err == nil && verifies(name, b) {
			return i.Size, true
		}
	}
	return 0, false
}

func contains(ms []*member, m *member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func sortProblems(ps []Problem) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Name != ps[j].Name {
			return ps[i].Name < ps[j].Name
		}
		return ps[i].Mirror < ps[j].Mirror
	})
}

// copyBuf is the size of the pieces copyObject moves: small enough to stay
// in the processor's cache between the read, the hash and the write.
const copyBuf = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// copyObject streams name from mirror src to mirror dst. The writer's
// Commit checks the bytes against the hash in the name, so a damaged
// source fails the copy (errors.Corrupt) and leaves dst as it was.
func copyObject(ctx context.Context, name string, src, dst *member) (int64, error) {
	w, err := dst.Create(ctx)
	if err != nil {
		return 0, err
	}
	if rf, ok := w.(io.ReaderFrom); ok {
		// A writer that takes a file (a folder mirror's) from a mirror
		// whose objects are files: the kernel copies the bytes.
		f, err := src.openFile(ctx, name)
		if err != nil {
			w.Abort()
			return 0, err
		}
		if f != nil {
			n, err := rf.ReadFrom(f)
			f.Close()
			if err == nil {
				err = w.Commit(ctx, name)
			}
			if err != nil {
				w.Abort()
				return 0, err
			}
			return n, nil
		}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	var off int64
	for {
		n, err := src.ReadAt(ctx, name, *bp, off)
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				w.Abort()
				return 0, werr
			}
			off += int64(n)
		}
		if err != nil && err != io.EOF {
			w.Abort()
			return 0, err
		}
		if n < len(*bp) || err == io.EOF {
			break
		}
	}
	if err := w.Commit(ctx, name); err != nil {
		return 0, err
	}
	return off, nil
}
