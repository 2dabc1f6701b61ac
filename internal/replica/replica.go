// Package replica makes several mirrors one: a Set is a blob.Store whose
// writes go to every mirror at once and count as safe once a write quorum
// of them holds them, and whose reads come from the fastest healthy mirror,
// verified, falling over to the others.
//
// A write that reaches fewer mirrors than the quorum is kept on this PC,
// in the outbox, and so is the list of what each mirror still lacks; Drain
// delivers it, oldest first, when the mirrors are back. Check compares the
// mirrors object by object and, with Repair, copies what is missing or
// damaged from a good copy. None of it needs a key: a set handles only
// ciphertext.
package replica

import (
	"context"
	"crypto/sha256"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// Options configure a Set.
type Options struct {
	// Quorum is how many mirrors must hold a write before it is safe:
	// 2, or all of them when there are fewer. It is at most their number.
	Quorum int
	// Outbox is the folder of this PC's queue. Without one, a write that
	// does not reach the quorum fails.
	Outbox string
	// Hedge is the longest a read waits for a silent mirror before asking
	// the next one as well (see race): 300 ms if zero.
	Hedge time.Duration
	// Linger is how long a write, once safe, waits for the slower mirrors
	// before queueing the object for them: 3 s if zero.
	Linger time.Duration
	// Shared says that another process of this PC owns the outbox: this
	// set reads from it but leaves its spools alone, and must not write
	// or drain.
	Shared bool
}

// Set is a mirror set. It is a blob.Store, safe for concurrent use.
type Set struct {
	members []*member
	quorum  int
	out     *outbox
	hedge   time.Duration
	linger  time.Duration

	mu       sync.Mutex
	damaged  map[string][]string        // object -> ids of mirrors that served bad bytes for it
	lacking  map[string]map[string]bool // mirror id -> names another mirror holds and it lacks (last List)
	writeErr map[string]error           // mirror id -> why its last failed write was queued
}

// New returns a set of the mirrors given, in that order of preference
// while none has been measured yet.
func New(mirrors []Mirror, o Options) (*Set, error) {
	const op errors.Op = "replica.New"
	if len(mirrors) == 0 {
		return nil, errors.E(op, errors.Invalid, errors.Str("a mirror set needs at least one mirror"))
	}
	s := &Set{quorum: o.Quorum, hedge: o.Hedge, linger: o.Linger,
		damaged: map[string][]string{}, lacking: map[string]map[string]bool{}, writeErr: map[string]error{}}
	if s.quorum <= 0 {
		s.quorum = min(2, len(mirrors))
	}
	if s.quorum > len(mirrors) {
		return nil, errors.E(op, errors.Invalid, errors.Str("the write quorum is larger than the number of mirrors"))
	}
	if s.hedge <= 0 {
		s.hedge = 300 * time.Millisecond
	}
	if s.linger <= 0 {
		s.linger = 3 * time.Second
	}
	seen := map[string]bool{}
	for _, m := range mirrors {
		// An id names a folder of the outbox's queue: one element, no slash.
		if m.ID == "" || seen[m.ID] || len(m.Endpoints) == 0 || blob.ValidName(m.ID) != nil || strings.Contains(m.ID, "/") {
			return nil, errors.E(op, errors.Invalid, errors.Str("mirror "+m.Name+" has no endpoint or no id of its own"))
		}
		seen[m.ID] = true
		s.members = append(s.members, newMember(m))
	}
	if o.Outbox != "" {
		out, err := openOutbox(o.Outbox, !o.Shared)
		if err != nil {
			return nil, err
		}
		s.out = out
	}
	return s, nil
}

// AddMirror adds a mirror to the set, last in preference. It must not run
// concurrently with other calls. The new mirror holds nothing yet: Check
// with Repair fills it.
func (s *Set) AddMirror(m Mirror) error {
	if m.ID == "" || s.byID(m.ID) != nil || len(m.Endpoints) == 0 || blob.ValidName(m.ID) != nil || strings.Contains(m.ID, "/") {
		return errors.E(errors.Op("replica.AddMirror"), errors.Invalid, errors.Str("mirror "+m.Name+" has no endpoint or no id of its own"))
	}
	s.members = append(s.members, newMember(m))
	return nil
}

// Quorum returns the write quorum.
func (s *Set) Quorum() int { return s.quorum }

// ordered returns the members in the order reads try them: healthy ones
// by latency, then those believed out of reach.
func (s *Set) ordered() []*member {
	ms := append([]*member(nil), s.members...)
	sort.SliceStable(ms, func(i, j int) bool {
		di, dj := ms[i].down(), ms[j].down()
		if di != dj {
			return !di
		}
		li, lj := ms[i].latency(), ms[j].latency()
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	return ms
}

// errBehind is why a write skips a mirror that has objects queued: it
// gets them in the order they were written, so that it never holds a
// journal segment or index before the packs they name.
var errBehind = errors.E(errors.Unavailable, errors.Str("queued behind earlier writes it lacks"))

// behind reports whether objects wait in the outbox for mirror m.
func (s *Set) behind(m *member) bool {
	return s.out != nil && s.out.count(m.ID) > 0
}

// result is one mirror's answer to a write.
type result struct {
	m   *member
	err error
}

// fanout runs f on every mirror at once. It returns when all have
// answered, or, once a quorum has succeeded, when the others have had
// Linger more to answer; those are cancelled and count as failed. With
// ordered, a mirror that has objects queued is not written to: the object
// joins its queue, so that it receives everything in the order written.
func (s *Set) fanout(ctx context.Context, ordered bool, f func(context.Context, *member) error) (ok []*member, failed []result) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := make(chan result, len(s.members))
	// A mirror in back-off is not waited for: it is queued at once, and
	// tried again when its back-off ends. If all are, all are tried.
	up := 0
	for _, m := range s.members {
		if !m.down() {
			up++
		}
	}
	for _, m := range s.members {
		if up > 0 && m.down() {
			ch <- result{m, errors.E(errors.Unavailable, errors.Str("not reachable a moment ago; queued"))}
			continue
		}
		if ordered && s.behind(m) {
			ch <- result{m, errBehind}
			continue
		}
		go func() { ch <- result{m, f(ctx, m)} }()
	}
	var timeout <-chan time.Time
	for n := 0; n < len(s.members); n++ {
		var r result
		select {
		case r = <-ch:
		case <-timeout:
			cancel()
			r = <-ch
			if r.err == nil {
				r.err = errors.E(errors.Unavailable, errors.Str("too slow"))
			}
		}
		if ctx.Err() != nil && r.err != nil && timeout != nil {
			r.m.slow() // cut off by the linger: the next writes go on without it
		}
		if r.err == nil && ctx.Err() == nil {
			ok = append(ok, r.m)
		} else {
			if r.err == nil {
				r.err = errors.E(errors.Unavailable, errors.Str("too slow"))
			}
			failed = append(failed, r)
		}
		if len(ok) == s.quorum && timeout == nil {
			timeout = time.After(s.linger)
		}
	}
	return ok, failed
}

// refused returns the first answer that no retry or other mirror changes:
// the request itself is wrong, or this device is not allowed.
func refused(failed []result) error {
	for _, r := range failed {
		switch errors.KindOf(r.err) {
		case errors.Invalid, errors.Permission:
			return r.err
		}
	}
	return nil
}

// worst is the error to report for a write no quorum took: a full mirror
// or disk, a refused hash, a local disk's failure say more than "out of
// reach".
func worst(failed []result) error {
	for _, k := range []errors.Kind{errors.Full, errors.Corrupt, errors.IO} {
		for _, r := range failed {
			if errors.Is(r.err, k) {
				return errors.E(errors.Str(r.m.Name+": "+r.err.Error()), k)
			}
		}
	}
	return nil
}

// settle decides the fate of a write that reached the mirrors ok: safe on
// a quorum, the others queued; below it, kept on this PC and queued for
// all that lack it, if there is an outbox. data, if nil, is fetched from a
// mirror that has it when this PC must keep it.
func (s *Set) settle(ctx context.Context, op errors.Op, name string, ok []*member, failed []result, data []byte) error {
	ids := make([]string, len(failed))
	for i, r := range failed {
		ids[i] = r.m.ID
	}
	if len(ok) >= s.quorum {
		if s.out == nil {
			return nil
		}
		// Bytes kept here from an earlier write of name are superseded:
		// reads and the queues must get these from the mirrors.
		if err := s.out.drop(ctx, name); err != nil {
			return errors.E(op, err)
		}
		if len(ids) > 0 {
			return s.out.add(ctx, ids, name, nil)
		}
		return nil
	}
	if err := refused(failed); err != nil {
		return errors.E(op, err)
	}
	if s.out == nil {
		if err := worst(failed); err != nil {
			return errors.E(op, name, err)
		}
		return errors.E(op, errors.Unavailable, name, errors.Str(quorumMsg(len(ok), s.quorum, failed)))
	}
	if data == nil && !s.out.has(name) {
		for _, m := range ok {
			b, err := m.Get(ctx, name, 0, -1)
			if err == nil && verifies(name, b) {
				data = b
				break
			}
		}
		if data == nil {
			// A stream that failed on its way: its bytes are gone. The
			// caller writes it again; the mirror is now known to fail.
			if err := worst(failed); err != nil {
				return errors.E(op, name, err)
			}
			return errors.E(op, errors.Unavailable, name, errors.Str(quorumMsg(len(ok), s.quorum, failed)))
		}
	}
	s.noteFailures(failed)
	return s.out.add(ctx, ids, name, data)
}

// noteFailures remembers why mirrors refused writes, for status.
func (s *Set) noteFailures(failed []result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range failed {
		if r.err != errBehind { // the reason it fell behind says more
			s.writeErr[r.m.ID] = r.err
		}
	}
}

// WriteErrors returns, by mirror id, why the last write it failed was
// kept on this PC.
func (s *Set) WriteErrors() map[string]error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]error{}
	for id, err := range s.writeErr {
		out[id] = err
	}
	return out
}

func quorumMsg(ok, quorum int, failed []result) string {
	msg := "only " + strconv.Itoa(ok) + " of the " + strconv.Itoa(quorum) + " mirrors a write needs took it"
	if len(failed) > 0 {
		msg += " (" + failed[0].m.Name + ": " + failed[0].err.Error() + ")"
	}
	return msg
}

// verifies reports whether b may be the whole object name: true unless the
// name promises a hash b does not have.
func verifies(name string, b []byte) bool {
	sum, ok := blob.Sum(name)
	return !ok || sha256.Sum256(b) == sum
}

// Put writes to every mirror; see Set.
func (s *Set) Put(ctx context.Context, name string, data []byte) error {
	const op errors.Op = "replica.Put"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	if !verifies(name, data) {
		return errors.E(op, errors.Corrupt, name, errors.Str("bytes do not match the hash in the object name"))
	}
	ok, failed := s.fanout(ctx, true, func(ctx context.Context, m *member) error { return m.Put(ctx, name, data) })
	return s.settle(ctx, op, name, ok, failed, data)
}

// race asks the mirrors in order for one answer: the next is asked as
// well when the one before fails, or has sent nothing for its hedge time
// (hedgeFor): not since it was asked, nor since the last bytes of its
// answer (blob.Progress), so that a long answer that streams is not
// doubled but one that stalls halfway is. try must pass the ctx it is
// given to the store and leave its result where the caller finds it by
// index; race returns the index of the first try that succeeded, after
// every try it started has returned. errs holds each mirror's error.
func (s *Set) race(ctx context.Context, try func(ctx context.Context, i int, m *member) error) (win int, errs []error, ms []*member) {
	ms = s.ordered()
	errs = make([]error, len(ms))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i   int
		err error
	}
	ch := make(chan answer, len(ms))
	heard := make([]atomic.Int64, len(ms)) // when each try was asked or last sent bytes (UnixNano)
	done := make([]bool, len(ms))
	started, running := 0, 0
	start := func() {
		i := started
		started++
		running++
		heard[i].Store(time.Now().UnixNano())
		tctx := blob.WithProgress(ctx, func() { heard[i].Store(time.Now().UnixNano()) })
		go func() { ch <- answer{i, try(tctx, i, ms[i])} }()
	}
	// silent returns how long the tries still running have all been
	// silent.
	silent := func() time.Duration {
		var last int64
		for i := 0; i < started; i++ {
			if !done[i] {
				last = max(last, heard[i].Load())
			}
		}
		return time.Duration(time.Now().UnixNano() - last)
	}
	start()
	win = -1
	hedge := time.NewTimer(s.hedgeFor(ms[0]))
	defer hedge.Stop()
	for running > 0 {
		select {
		case a := <-ch:
			running--
			done[a.i] = true
			errs[a.i] = a.err
			if a.err == nil && win < 0 {
				win = a.i
				cancel()
				// Those asked first that went silent are slow: the next
				// reads go elsewhere first until their back-off ends.
				for i := 0; i < a.i; i++ {
					if !done[i] && time.Duration(time.Now().UnixNano()-heard[i].Load()) >= s.hedgeFor(ms[i]) {
						ms[i].slow()
					}
				}
			}
			if win < 0 && started < len(ms) {
				start()
				hedge.Reset(s.hedgeFor(ms[started-1]))
			}
		case <-hedge.C:
			if win < 0 && started < len(ms) {
				wait := s.hedgeFor(ms[started-1])
				if idle := silent(); idle < wait {
					hedge.Reset(wait - idle) // still answering
					continue
				}
				start()
				hedge.Reset(s.hedgeFor(ms[started-1]))
			}
		}
	}
	return win, errs, ms
}

// hedgeFor is how long m may stay silent before the next mirror is asked
// as well: four times its usual answer time, within 20 ms and Hedge. A
// mirror in back-off keeps the answer time it had. A folder of this
// machine waits Hedge: its silence is nearly always this machine being
// busy (an export from two folders, both cores decoding, saw pauses of
// 10–120 ms between the pieces of a read, and read 9–12% of its bytes
// twice), and asking another folder of the same machine adds to that
// load; a drive that has hung is still passed over within Hedge.
func (s *Set) hedgeFor(m *member) time.Duration {
	lat := m.lastLatency()
	if lat == 0 || m.local {
		return s.hedge
	}
	return min(max(4*lat, 20*time.Millisecond), s.hedge)
}

// failure is the error of a read no mirror could answer: NotExist when
// every mirror says so, Corrupt when the only copies found were bad, else
// Unavailable, naming the first mirror's trouble.
func (s *Set) failure(op errors.Op, name string, errs []error, ms []*member) error {
	missing, bad := 0, 0
	var first error
	for i, err := range errs {
		switch {
		case err == nil:
			continue
		case errors.Is(err, errors.NotExist):
			missing++
		case errors.Is(err, errors.Corrupt):
			bad++
		case errors.Is(err, errors.Invalid):
			return errors.E(op, err)
		}
		if first == nil && !errors.Is(err, errors.NotExist) {
			first = errors.E(errors.Str(ms[i].Name + ": " + err.Error()))
		}
	}
	switch {
	case missing == len(errs):
		return errors.E(op, errors.NotExist, name)
	case bad > 0 && bad+missing == len(errs):
		return errors.E(op, errors.Corrupt, name, errors.Str("every copy on the mirrors is damaged or missing; run 'dvpc check --repair'"))
	case first == nil:
		return errors.E(op, errors.Unavailable, name, errors.Str("no mirror is reachable"))
	}
	for _, err := range errs {
		if errors.Is(err, errors.Permission) {
			return errors.E(op, name, err)
		}
	}
	return errors.E(op, errors.Unavailable, name, errors.Str("not reachable on any mirror: "+first.Error()))
}

// noteDamage remembers that mirror m served bad bytes for name, for Check
// to repair and status to report.
func (s *Set) noteDamage(m *member, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range s.damaged[name] {
		if id == m.ID {
			return
		}
	}
	s.damaged[name] = append(s.damaged[name], m.ID)
}

// Damaged returns the objects read this session that some mirror served
// damaged, with the mirrors' names.
func (s *Set) Damaged() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for n, ids := range s.damaged {
		for _, id := range ids {
			out[n] = append(out[n], s.byID(id).Name)
		}
	}
	return out
}

func (s *Set) byID(id string) *member {
	for _, m := range s.members {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// Get reads from the fastest mirror that holds a good copy: a whole object
// named by a hash is checked against it. Objects kept in the outbox are
// read from this PC.
func (s *Set) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	const op errors.Op = "replica.Get"
	if err := blob.Check(ctx, op, name); err != nil {
		return nil, err
	}
	if s.out != nil && s.out.has(name) {
		if b, err := s.out.objects.Get(ctx, name, off, length); err == nil {
			return b, nil
		}
	}
	whole := off == 0 && length < 0
	res := make([][]byte, len(s.members))
	win, errs, ms := s.race(ctx, func(ctx context.Context, i int, m *member) error {
		b, err := m.Get(ctx, name, off, length)
		if err == nil && whole && !verifies(name, b) {
			s.noteDamage(m, name)
			return errors.E(errors.Corrupt, name, errors.Str("bytes do not match the hash in the name"))
		}
		res[i] = b
		return err
	})
	if win < 0 {
		return nil, s.failure(op, name, errs, ms)
	}
	return res[win], nil
}

// GetVerified returns the whole object from the first mirror whose copy
// passes verify (and the hash its name promises).
func (s *Set) GetVerified(ctx context.Context, name string, verify func([]byte) error) ([]byte, error) {
	const op errors.Op = "replica.Get"
	if err := blob.Check(ctx, op, name); err != nil {
		return nil, err
	}
	if s.out != nil && s.out.has(name) {
		if b, err := s.out.objects.Get(ctx, name, 0, -1); err == nil && verify(b) == nil {
			return b, nil
		}
	}
	ov := &oneVerify{f: verify}
	res := make([][]byte, len(s.members))
	var mu sync.Mutex
	var verr error
	win, errs, ms := s.race(ctx, func(ctx context.Context, i int, m *member) error {
		b, err := m.Get(ctx, name, 0, -1)
		if err != nil {
			return err
		}
		if !verifies(name, b) {
			s.noteDamage(m, name)
			return errors.E(errors.Corrupt, name, errors.Str("bytes do not match the hash in the name"))
		}
		if err := ov.check(b); err != nil {
			if err == errLost {
				return err
			}
			s.noteDamage(m, name)
			mu.Lock()
			verr = err
			mu.Unlock()
			return errors.E(errors.Corrupt, err)
		}
		res[i] = b
		return nil
	})
	if win < 0 {
		if verr != nil && allNotReachedOr(errs, errors.Corrupt) {
			return nil, verr
		}
		return nil, s.failure(op, name, errs, ms)
	}
	return res[win], nil
}

// oneVerify calls a caller's verify for one try at a time, and for none
// after one has passed: verify may keep what it decodes (the volume keeps
// the plaintext of the span it checks), so the copy it last accepted must
// be the one returned, and hedged tries must not run it at once.
type oneVerify struct {
	mu   sync.Mutex
	f    func([]byte) error
	done bool
}

// errLost is what a try answers whose copy was not checked because
// another mirror's passed first.
var errLost = errors.E(errors.Unavailable, errors.Str("another mirror answered first"))

func (v *oneVerify) check(b []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.done {
		return errLost
	}
	if err := v.f(b); err != nil {
		return err
	}
	v.done = true
	return nil
}

// allNotReachedOr reports whether every error is NotExist or of kind k,
// with at least one of kind k.
func allNotReachedOr(errs []error, k errors.Kind) bool {
	seen := false
	for _, err := range errs {
		switch {
		case errors.Is(err, k):
			seen = true
		case err != nil && !errors.Is(err, errors.NotExist):
			return false
		}
	}
	return seen
}

// ReadAt reads part of an object into p from the fastest mirror.
func (s *Set) ReadAt(ctx context.Context, name string, p []byte, off int64) (int, error) {
	return s.ReadVerified(ctx, name, p, off, func([]byte) error { return nil })
}

// ReadVerified reads part of an object into p from the fastest mirror
// whose bytes pass verify. See blob.VerifiedReader.
func (s *Set) ReadVerified(ctx context.Context, name string, p []byte, off int64, verify func([]byte) error) (int, error) {
	const op errors.Op = "replica.Read"
	if err := blob.Check(ctx, op, name); err != nil {
		return 0, err
	}
	if s.out != nil && s.out.has(name) {
		n, err := s.out.objects.ReadAt(ctx, name, p, off)
		if (err == nil || err == io.EOF) && verify(p[:n]) == nil {
			return n, nil
		}
	}
	bufs := make([][]byte, len(s.members))
	ns := make([]int, len(s.members))
	ov := &oneVerify{f: verify}
	var mu sync.Mutex
	var verr error
	win, errs, ms := s.race(ctx, func(ctx context.Context, i int, m *member) error {
		buf := p
		if i > 0 {
			buf = make([]byte, len(p)) // p belongs to the first try alone
		}
		n, err := m.ReadAt(ctx, name, buf, off)
		if err != nil {
			return err
		}
		if err := ov.check(buf[:n]); err != nil {
			if err == errLost {
				return err
			}
			if ctx.Err() == nil {
				s.noteDamage(m, name)
			}
			mu.Lock()
			verr = err
			mu.Unlock()
			return errors.E(errors.Corrupt, err)
		}
		bufs[i], ns[i] = buf, n
		return nil
	})
	if win < 0 {
		if verr != nil && allNotReachedOr(errs, errors.Corrupt) {
			return 0, verr
		}
		return 0, s.failure(op, name, errs, ms)
	}
	if win > 0 {
		copy(p, bufs[win][:ns[win]])
	}
	return ns[win], nil
}

// Stat returns the info of the first mirror that answers.
func (s *Set) Stat(ctx context.Context, name string) (blob.Info, error) {
	const op errors.Op = "replica.Stat"
	if err := blob.Check(ctx, op, name); err != nil {
		return blob.Info{}, err
	}
	if s.out != nil && s.out.has(name) {
		if i, err := s.out.objects.Stat(ctx, name); err == nil {
			return i, nil
		}
	}
	res := make([]blob.Info, len(s.members))
	win, errs, ms := s.race(ctx, func(ctx context.Context, i int, m *member) (err error) {
		res[i], err = m.Stat(ctx, name)
		return err
	})
	if win < 0 {
		return blob.Info{}, s.failure(op, name, errs, ms)
	}
	return res[win], nil
}

// List lists the union of what the reachable mirrors and the outbox hold.
// It fails only when no mirror answers. What a mirror lacks and another
// holds is remembered for Lacking.
func (s *Set) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	const op errors.Op = "replica.List"
	type listing struct {
		names map[string]blob.Info
		err   error
	}
	ls := make([]listing, len(s.members))
	// A mirror in back-off is waited for only while the others answer:
	// one out of reach must not hold up every listing. When none of the
	// others answers, it is waited for too.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan int, len(s.members))
	wasDown := make([]bool, len(s.members))
	awaited := 0
	for i, m := range s.members {
		if wasDown[i] = m.down(); !wasDown[i] {
			awaited++
		}
		go func() {
			names := map[string]blob.Info{}
			err := m.List(lctx, prefix, func(i blob.Info) error {
				names[i.Name] = i
				return nil
			})
			ls[i] = listing{names, err}
			done <- i
		}()
	}
	for pending, good := len(s.members), 0; pending > 0; pending-- {
		i := <-done
		if !wasDown[i] {
			awaited--
		}
		if ls[i].err == nil {
			good++
		}
		if awaited == 0 && good > 0 {
			cancel() // those still listing are cut short, and count as not answering
		}
	}
	all := map[string]blob.Info{}
	answered := 0
	var first error
	for i, l := range ls {
		if l.err != nil {
			if errors.Is(l.err, errors.Invalid) {
				return errors.E(op, l.err)
			}
			if first == nil {
				first = errors.E(errors.Str(s.members[i].Name + ": " + l.err.Error()))
			}
			continue
		}
		answered++
		for n, info := range l.names {
			all[n] = info
		}
	}
	if s.out != nil {
		for _, n := range s.out.localNames(prefix) {
			if _, ok := all[n]; !ok {
				if info, err := s.out.objects.Stat(ctx, n); err == nil {
					all[n] = info
				}
			}
		}
	}
	if answered == 0 {
		if err := ctx.Err(); err != nil {
			return errors.E(op, err)
		}
		for _, l := range ls {
			if errors.Is(l.err, errors.Permission) {
				return errors.E(op, l.err)
			}
		}
		return errors.E(op, errors.Unavailable, prefix, errors.Str("not reachable: "+first.Error()))
	}
	s.mu.Lock()
	for i, l := range ls {
		if l.err != nil {
			continue
		}
		m := s.members[i]
		lack := s.lacking[m.ID]
		if lack == nil {
			lack = map[string]bool{}
			s.lacking[m.ID] = lack
		}
		for n := range lack {
			if strings.HasPrefix(n, prefix) {
				delete(lack, n)
			}
		}
		for n := range all {
			if _, ok := l.names[n]; !ok {
				lack[n] = true
			}
		}
	}
	s.mu.Unlock()
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := fn(all[n]); err != nil {
			return err
		}
	}
	return nil
}

// Delete deletes from every mirror that can be reached.
func (s *Set) Delete(ctx context.Context, name string) error {
	const op errors.Op = "replica.Delete"
	if err := blob.Check(ctx, op, name); err != nil {
		return err
	}
	ok, failed := s.fanout(ctx, false, func(ctx context.Context, m *member) error { return m.Delete(ctx, name) })
	if err := refused(failed); err != nil {
		return errors.E(op, err)
	}
	if len(ok) == 0 {
		return errors.E(op, errors.Unavailable, name, errors.Str(quorumMsg(0, s.quorum, failed)))
	}
	if s.out != nil {
		// Neither read back from this PC nor delivered again by Drain.
		if err := s.out.forget(ctx, name); err != nil {
			return errors.E(op, err)
		}
	}
	return nil
}
