package volume

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"time"

	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/pack"
	"github.com/dvpc/dvpc/internal/seal"
)

// The local state is one file, "state" in the state directory: the common
// header (kind 8) and seal(local, body, ad = "dvpc local state" || volume id
// || account public key). It caches what was read from the mirror: the key
// generations after the first, device records (verified with that account
// key, which is why it is in the ad), each device's decoded journal, and the
// index. Losing it loses nothing: Open rebuilds it from the mirror.
const stateFile = "state"

func (v *Volume) stateAD() []byte {
	return append(append([]byte("dvpc local state"), v.cfg.ID[:]...), v.cfg.Account...)
}

// loadState reads the local state if there is one, and reports whether
// there was. A state that does not open or decode is dropped and rebuilt
// from the mirror.
func (v *Volume) loadState() bool {
	if v.stateDir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(v.stateDir, stateFile))
	if err != nil {
		return false
	}
	body, err := dvpc.ParseHeader(b, dvpc.KindLocal)
	if err == nil {
		body, err = v.keys.Local.OpenInPlace(body, v.stateAD()) // no second buffer of its size
	}
	if err == nil {
		err = v.decodeState(body)
		v.stateLen = len(body)
	}
	if err != nil {
		// Start over from the mirror (the key shares give back the
		// generations).
		for g := range v.gens {
			if g > 1 && (v.cfg.ring == nil || int(g) > len(v.cfg.ring)) {
				delete(v.gens, g)
			}
		}
		v.top = 1
		for g := range v.gens {
			v.top = max(v.top, g)
		}
		v.devices, v.logs = map[dvpc.DeviceID]*Device{}, map[dvpc.DeviceID]*devLog{}
		v.index, v.indexes, v.clock = pack.NewIndex(), map[dvpc.ObjectID]bool{}, 0
		v.base, v.lastCP = nil, 0
		return false
	}
	return true
}

// saveState writes the local state if it changed, at most once per the
// period SetSaveEvery set (none: at once).
func (v *Volume) saveState() error { return v.save(false) }

// SaveState writes the local state now if it changed.
func (v *Volume) SaveState() error { return v.save(true) }

// SaveStateDue writes the local state if it changed and the period
// SetSaveEvery set has passed since it was last written.
func (v *Volume) SaveStateDue() error { return v.save(false) }

// SetSaveEvery makes the local state written at most once per d when
// commits change it (SaveState and SaveStateDue write it). A mount sets
// it: writing the state encodes all of it, which takes long enough on a
// large volume to hold up every change if done at each flush. What is not
// yet written is on the mirrors or in the outbox, which the next Open
// reads, so it is never lost, only read again.
func (v *Volume) SetSaveEvery(d time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.saveEvery = d
}

// save writes the local state if it changed: to a temporary file, synced,
// then renamed over the old one. Unless force, not before the period
// SetSaveEvery set has passed since the last write.
//
// Only taking a snapshot holds v.mu, which copies no entry (a log's
// entries are only ever appended to, or replaced by a new slice): the
// encoding, the sealing and the disk do not hold up the changes a mount
// stages meanwhile. On a volume of a million files the encoding takes
// about half a second (BenchmarkSaveState1M).
func (v *Volume) save(force bool) error {
	v.saveMu.Lock()
	defer v.saveMu.Unlock()
	v.mu.Lock()
	if v.stateDir == "" || !v.dirty || v.noSave ||
		!force && v.saveEvery > 0 && time.Since(v.lastSave) < v.saveEvery {
		v.mu.Unlock()
		return nil
	}
	snap := v.snapState()
	v.dirty = false
	v.lastSave = time.Now()
	v.mu.Unlock()
	// One buffer of the size of the last, the body encoded after the
	// header and the nonce and sealed where it is: growing it by appends
	// copied and faulted in several times the state's size, which at a
	// million files took seconds, and a second buffer to seal into
	// faulted in 150 MB more.
	hint := max(v.stateLen+v.stateLen/8, snap.sizeHint())
	b := dvpc.AppendHeader(make([]byte, 0, 16+seal.NonceSize+hint+seal.TagSize), dvpc.KindLocal)
	head := len(b)
	b = snap.encode(append(b, make([]byte, seal.NonceSize)...))
	bodyLen := len(b) - head - seal.NonceSize
	if sealed := v.keys.Local.SealInPlace(b[head:], v.stateAD()); &sealed[0] == &b[head] {
		b = b[:head+len(sealed)]
	} else {
		b = append(b[:head], sealed...) // the tag did not fit: sealed elsewhere
	}
	v.mu.Lock()
	v.stateLen = bodyLen
	v.mu.Unlock()
	if err := writeFileAtomic(filepath.Join(v.stateDir, stateFile), b); err != nil {
		v.mu.Lock()
		v.dirty = true
		v.mu.Unlock()
		return errors.E(errors.Op("volume.saveState"), errors.IO, err)
	}
	return nil
}

// stateSnap is what the local state holds, taken under v.mu and encoded
// after it is released.
type stateSnap struct {
	gens          []genSnap
	clock, lastCP journal.HLC
	base          *checkpoint // never changed once it is v.base
	devices       []Device
	logs          []logSnap
	indexes       []dvpc.ObjectID
	packs         []pack.PackEntries
}

type genSnap struct {
	gen uint32
	key keys.Key
}

type logSnap struct {
	dev dvpc.DeviceID
	devLog
}

// snapState takes a snapshot of the state; v.mu is held.
func (v *Volume) snapState() *stateSnap {
	s := &stateSnap{clock: v.clock, lastCP: v.lastCP, base: v.base}
	for g, k := range v.gens {
		if g > 1 {
			s.gens = append(s.gens, genSnap{g, k.key})
		}
	}
	for _, d := range v.devices {
		s.devices = append(s.devices, *d)
	}
	for dev, l := range v.logs {
		ls := logSnap{dev, *l}
		ls.entries = l.entries[:len(l.entries):len(l.entries)]
		s.logs = append(s.logs, ls)
	}
	for id := range v.indexes {
		s.indexes = append(s.indexes, id)
	}
	v.index.Packs(func(p pack.PackEntries) { s.packs = append(s.packs, p) })
	return s
}

// sizeHint guesses the length of the encoding, a little high: entries of
// paths of a few dozen bytes and one chunk, index entries of 40 bytes.
func (s *stateSnap) sizeHint() int {
	n := 1 << 10
	if s.base != nil {
		n += 128 * len(s.base.nodes)
	}
	for _, l := range s.logs {
		n += 112 * len(l.entries)
	}
	for _, p := range s.packs {
		n += 48 + 48*len(p.Entries)
	}
	return n
}

// appendPrefixed appends the length of what fn appends to b, as a
// uvarint, then it: fn appends in place, and what it appended moves once.
func appendPrefixed(b []byte, fn func([]byte) []byte) []byte {
	start := len(b)
	b = binary.AppendUvarint(b, 1<<63) // a placeholder of the longest form
	reserved := len(b) - start
	b = fn(b)
	n := len(b) - start - reserved
	var pre [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(pre[:], uint64(n))
	copy(b[start+k:], b[start+reserved:])
	copy(b[start:], pre[:k])
	return b[:len(b)-(reserved-k)]
}

// encode appends the state to b.
func (s *stateSnap) encode(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s.gens)))
	for _, g := range s.gens {
		b = binary.BigEndian.AppendUint32(b, g.gen)
		b = append(b, g.key[:]...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(s.clock))
	b = binary.BigEndian.AppendUint64(b, uint64(s.lastCP))
	b = appendPrefixed(b, func(b []byte) []byte {
		if s.base == nil {
			return b
		}
		return s.base.appendTo(b)
	})
	b = binary.AppendUvarint(b, uint64(len(s.devices)))
	for _, d := range s.devices {
		b = append(b, d.ID[:]...)
		b = append(b, d.Public...)
		b = append(b, d.X25519...)
		b = binary.BigEndian.AppendUint64(b, uint64(d.Created.UnixNano()))
		b = binary.AppendUvarint(b, uint64(len(d.Name)))
		b = append(b, d.Name...)
	}
	b = binary.AppendUvarint(b, uint64(len(s.logs)))
	for _, l := range s.logs {
		b = append(b, l.dev[:]...)
		b = binary.BigEndian.AppendUint64(b, l.from)
		b = append(b, l.fromID[:]...)
		b = binary.BigEndian.AppendUint64(b, l.seq)
		b = append(b, l.last[:]...)
		b = appendPrefixed(b, func(b []byte) []byte { return journal.AppendEntries(b, l.entries) })
	}
	b = binary.AppendUvarint(b, uint64(len(s.indexes)))
	for _, id := range s.indexes {
		b = append(b, id[:]...)
	}
	return pack.AppendIndex(b, s.packs)
}

// stateReader decodes the local state, remembering the first error.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.err = errors.Str("local state truncated")
		return make([]byte, max(n, 0)&0xff)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *stateReader) uvarint() int {
	x, k := binary.Uvarint(r.b)
	if r.err != nil || k <= 0 || x > uint64(len(r.b)) {
		r.err = errors.Str("local state malformed")
		return 0
	}
	r.b = r.b[k:]
	return int(x)
}

func (r *stateReader) u64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }

func (v *Volume) decodeState(b []byte) error {
	r := &stateReader{b: b}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		g := binary.BigEndian.Uint32(r.take(4))
		k := keys.Key(r.take(keys.Size))
		if r.err == nil && g < 2 {
			r.err = errors.Str("local state holds a bad key generation")
		}
		if r.err == nil {
			v.addGen(g, k)
		}
	}
	v.clock = journal.HLC(r.u64())
	v.lastCP = journal.HLC(r.u64())
	if cp := r.take(r.uvarint()); len(cp) > 0 && r.err == nil {
		base, err := decodeCheckpoint(cp)
		if err != nil {
			return err
		}
		v.base = base
	}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		d := &Device{}
		copy(d.ID[:], r.take(16))
		d.Public = append([]byte(nil), r.take(32)...)
		d.X25519 = append([]byte(nil), r.take(32)...)
		d.Created = time.Unix(0, int64(r.u64()))
		d.Name = string(r.take(r.uvarint()))
		v.devices[d.ID] = d
	}
	type rawLog struct {
		l *devLog
		b []byte
	}
	var raw []rawLog
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		var dev dvpc.DeviceID
		copy(dev[:], r.take(16))
		l := &devLog{from: r.u64()}
		copy(l.fromID[:], r.take(32))
		l.seq = r.u64()
		copy(l.last[:], r.take(32))
		raw = append(raw, rawLog{l, r.take(r.uvarint())})
		v.logs[dev] = l
	}
	for n := r.uvarint(); n > 0 && r.err == nil; n-- {
		v.indexes[dvpc.ObjectID(r.take(32))] = true
	}
	if r.err != nil {
		return r.err
	}
	// The chunk index and the journal entries are decoded at once, on
	// two cores: together they are most of the time a command takes to
	// open a volume.
	idx := make(chan error, 1)
	go func() {
		packs, err := pack.DecodeIndex(r.b)
		if err == nil {
			v.index.AddAll(packs)
		}
		idx <- err
	}()
	var err error
	for _, x := range raw {
		if x.l.entries, err = journal.DecodeEntries(x.b); err != nil {
			break
		}
	}
	if ierr := <-idx; err == nil {
		err = ierr
	}
	return err
}

// writeFileAtomic writes data to path so that a crash leaves either the old
// file or the new one.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
