package replica

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/errors"
)

// outbox is the queue of what the mirrors still lack, kept on this PC:
//
//	DIR/objects/<name>                       bytes not yet on a quorum of mirrors
//	DIR/queue/<mirror id>/<seq>-<name>       one empty file per object a mirror lacks
//
// In a queue file's name the slashes of the object name are '+', which no
// object name holds. Files are created durably (file, then the folder
// synced), so a queue survives a crash, and the sequence numbers keep it in
// the order of writing: a mirror catches up oldest first.
type outbox struct {
	dir     string
	objects *dir.Store

	mu    sync.Mutex
	seq   uint64
	queue map[string][]queued // by mirror id, oldest first
	refs  map[string]int      // object name -> queue entries naming it
	local map[string]bool     // object names whose bytes are in objects/
}

type queued struct {
	seq  uint64
	name string
}

func (q queued) file() string {
	return fmt.Sprintf("%016x-%s", q.seq, strings.ReplaceAll(q.name, "/", "+"))
}

func openOutbox(path string, sweep bool) (*outbox, error) {
	const op errors.Op = "replica.openOutbox"
	for _, d := range []string{path, filepath.Join(path, "objects"), filepath.Join(path, "queue")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, errors.E(op, errors.IO, d, err)
		}
	}
	objs, err := dir.Open(filepath.Join(path, "objects"))
	if err != nil {
		return nil, errors.E(op, err)
	}
	o := &outbox{dir: path, objects: objs, queue: map[string][]queued{}, refs: map[string]int{}, local: map[string]bool{}}
	// Spools of set writers that a crash interrupted hold nothing that
	// waits: their objects were never acknowledged.
	if stale, _ := filepath.Glob(filepath.Join(path, "spool-*.tmp")); sweep && len(stale) > 0 {
		for _, f := range stale {
			os.Remove(f)
		}
	}
	mirrors, err := os.ReadDir(filepath.Join(path, "queue"))
	if err != nil {
		return nil, errors.E(op, errors.IO, path, err)
	}
	for _, m := range mirrors {
		files, err := os.ReadDir(filepath.Join(path, "queue", m.Name()))
		if err != nil {
			return nil, errors.E(op, errors.IO, path, err)
		}
		for _, f := range files {
			n := f.Name()
			if len(n) < 18 || n[16] != '-' {
				continue // a temporary file, or not ours
			}
			seq, err := strconv.ParseUint(n[:16], 16, 64)
			name := strings.ReplaceAll(n[17:], "+", "/")
			if err != nil || blob.ValidName(name) != nil {
				continue
			}
			o.queue[m.Name()] = append(o.queue[m.Name()], queued{seq, name})
			o.refs[name]++
			o.seq = max(o.seq, seq)
		}
		sort.Slice(o.queue[m.Name()], func(i, j int) bool { return o.queue[m.Name()][i].seq < o.queue[m.Name()][j].seq })
	}
	err = objs.List(context.Background(), "", func(i blob.Info) error {
		o.local[i.Name] = true
		return nil
	})
	if err != nil {
		return nil, errors.E(op, err)
	}
	// Bytes no queue names any more (a crash between the last delivery and
	// their removal) are done with.
	for name := range o.local {
		if o.refs[name] == 0 {
			objs.Delete(context.Background(), name)
			delete(o.local, name)
		}
	}
	return o, nil
}

// add queues name for the mirrors given, keeping data on this PC if it is
// not nil. It returns once all of it is durable.
func (o *outbox) add(ctx context.Context, mirrors []string, name string, data []byte) error {
	const op errors.Op = "replica.queue"
	if data != nil {
		if err := o.objects.Put(ctx, name, data); err != nil {
			return errors.E(op, err)
		}
		o.mu.Lock()
		o.local[name] = true
		o.mu.Unlock()
	}
	for _, m := range mirrors {
		o.mu.Lock()
		o.seq++
		q := queued{o.seq, name}
		o.mu.Unlock()
		d := filepath.Join(o.dir, "queue", m)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return errors.E(op, errors.IO, d, err)
		}
		f, err := os.OpenFile(filepath.Join(d, q.file()), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return errors.E(op, errors.IO, d, err)
		}
		f.Close()
		if err := syncDir(d); err != nil {
			return errors.E(op, errors.IO, d, err)
		}
		o.mu.Lock()
		o.queue[m] = append(o.queue[m], q)
		o.refs[name]++
		o.mu.Unlock()
	}
	return nil
}

// has reports whether name's bytes are kept here.
func (o *outbox) has(name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.local[name]
}

// pending returns a copy of mirror m's queue, oldest first.
func (o *outbox) pending(m string) []queued {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]queued(nil), o.queue[m]...)
}

// count returns how many objects wait for mirror m.
func (o *outbox) count(m string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queue[m])
}

// queued reports whether name waits for mirror m.
func (o *outbox) waits(m, name string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range o.queue[m] {
		if q.name == name {
			return true
		}
	}
	return false
}

// waitingFor returns, by object name, how many of the mirrors given wait
// for it.
func (o *outbox) waitingFor(mirrors []string) map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := map[string]int{}
	for _, m := range mirrors {
		seen := map[string]bool{}
		for _, q := range o.queue[m] {
			if !seen[q.name] {
				seen[q.name] = true
				n[q.name]++
			}
		}
	}
	return n
}

// done removes q from mirror m's queue, and name's bytes once no queue
// needs them.
func (o *outbox) done(ctx context.Context, m string, q queued) error {
	if err := os.Remove(filepath.Join(o.dir, "queue", m, q.file())); err != nil && !os.IsNotExist(err) {
		return errors.E(errors.Op("replica.dequeue"), errors.IO, err)
	}
	o.mu.Lock()
	qs := o.queue[m]
	for i := range qs {
		if qs[i].seq == q.seq {
			o.queue[m] = append(qs[:i:i], qs[i+1:]...)
			break
		}
	}
	o.refs[q.name]--
	last := o.refs[q.name] <= 0
	if last {
		delete(o.refs, q.name)
	}
	local := last && o.local[q.name]
	o.mu.Unlock()
	if local {
		if err := o.objects.Delete(ctx, q.name); err != nil {
			return err
		}
		o.mu.Lock()
		delete(o.local, q.name)
		o.mu.Unlock()
	}
	return nil
}

// drop removes name's bytes kept here: a quorum of mirrors now holds the
// object, and the queues that still name it fetch it from them.
func (o *outbox) drop(ctx context.Context, name string) error {
	o.mu.Lock()
	local := o.local[name]
	delete(o.local, name)
	o.mu.Unlock()
	if !local {
		return nil
	}
	return o.objects.Delete(ctx, name)
}

// forget removes name from every queue, and its bytes from this PC: the
// object was deleted, and no mirror must get it back.
func (o *outbox) forget(ctx context.Context, name string) error {
	type entry struct {
		m string
		q queued
	}
	var gone []entry
	o.mu.Lock()
	for m, qs := range o.queue {
		for _, q := range qs {
			if q.name == name {
				gone = append(gone, entry{m, q})
			}
		}
	}
	o.mu.Unlock()
	for _, e := range gone {
		if err := o.done(ctx, e.m, e.q); err != nil {
			return err
		}
	}
	return o.drop(ctx, name)
}

// localNames returns the names whose bytes are kept here, sorted.
func (o *outbox) localNames(prefix string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for n := range o.local {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Forget drops what waits for the mirror with id, which has left the set:
// its queue, and the bytes kept here that no other mirror's queue needs.
func (s *Set) Forget(ctx context.Context, id string) error {
	if s.out == nil {
		return nil
	}
	for _, q := range s.out.pending(id) {
		if err := s.out.done(ctx, id, q); err != nil {
			return err
		}
	}
	// With what another Set on this outbox queued for it since: the next
	// opening drops the bytes no queue names then.
	if err := os.RemoveAll(filepath.Join(s.out.dir, "queue", id)); err != nil {
		return errors.E(errors.Op("replica.Forget"), errors.IO, err)
	}
	return nil
}

// DropStrays forgets the queues of mirrors that are not in the set: ones
// removed from it, by this PC or another.
func (s *Set) DropStrays(ctx context.Context) error {
	if s.out == nil {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(s.out.dir, "queue"))
	if err != nil {
		return errors.E(errors.Op("replica.DropStrays"), errors.IO, err)
	}
	for _, e := range ents {
		if e.IsDir() && s.byID(e.Name()) == nil {
			if err := s.Forget(ctx, e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}
