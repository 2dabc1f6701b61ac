// Package volume is the engine of a volume: it merges the journals of all
// devices into a tree, reads and writes files as chunks in packs, and
// answers for any moment of the volume's history.
//
// A Volume is opened on a mirror with the volume's key and this device's
// identity. Its local state (the decoded journals and index) is a cache of
// the mirror, sealed on the PC, and rebuilt from the mirror when missing.
// The package never stores a plaintext byte on a mirror or the local disk.
package volume

import (
	"context"
	"crypto/ed25519"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/pack"
)

// Options configure Open.
type Options struct {
	StateDir string // local state of this volume on this PC; "" keeps none
	Offline  bool   // do not read the mirror on open: use what this PC knows
	NoSave   bool   // read the local state but never write it: another process owns it
	// SaveEvery, if not zero, writes the local state at most once per
	// SaveEvery, counted from Open (see SetSaveEvery); the owner calls
	// SaveState when it is done.
	SaveEvery time.Duration
	Now       func() time.Time // the clock; time.Now if nil
}

// Volume is an open volume.
type Volume struct {
	store    blob.Store // the volume's objects: the mirror under volumes/<id>/
	cfg      *Config
	keys     *keys.Volume // key generation 1: chunk ids, gear, local state
	codec    *pack.Codec  // generation 1's
	gear     *chunk.Gear
	me       Identity
	now      func() time.Time
	stateDir string
	noSave   bool

	saveMu sync.Mutex // one saveState at a time
	promo  promoter   // rewrites cached chunks uncompressed (promote.go)

	mu      sync.Mutex
	gens    map[uint32]*generation // the key generations this device holds
	top     uint32                 // the newest of them
	devices map[dvpc.DeviceID]*Device
	revoked map[dvpc.DeviceID]*Revocation
	refused map[dvpc.DeviceID]error // device records the account did not sign
	logs    map[dvpc.DeviceID]*devLog
	index   *pack.Index
	indexes map[dvpc.ObjectID]bool // index objects already read
	clock   journal.HLC            // the newest clock reading seen or issued
	// saveEvery defers writing the local state (SetSaveEvery); lastSave
	// is when it was last written.
	saveEvery time.Duration
	lastSave  time.Time
	tree      *Tree       // the merge of all changes; nil when stale
	dirty     bool        // local state differs from what is saved
	base      *checkpoint // where the logs start, if not at the beginning
	lastCP    journal.HLC // time of the newest checkpoint on the mirror
	// What sinceCheckpointLocked counted: per log, and in all, the
	// changes newer than cpAt (lastCP when it counted).
	cpSeen  map[dvpc.DeviceID]cpCount
	cpNewer int
	cpAt    journal.HLC
	cpSize  int // nodes in the largest checkpoint written or read here
	// stateLen is the length of the local state's body when last read or
	// written: the size its next encoding starts with.
	stateLen int
	stage    *Stage          // this device's changes not yet on the mirror, if staging
	cache    ChunkCache      // sealed chunks kept on this PC, if any
	staged   []journal.Entry // the stage's changes, in order; in the tree, in no segment yet
}

// devLog is what is known of one device's journal: the entries of
// segments from+1 to seq.
type devLog struct {
	from    uint64        // segments up to this one are covered by the base checkpoint
	fromID  dvpc.ObjectID // the id of segment from
	seq     uint64        // the newest segment read
	last    dvpc.ObjectID // its id
	entries []journal.Entry
}

// Open opens the volume whose config and key (generation 1) are given, on
// the mirror root, as the device me, and brings it up to date with the
// mirror. The newer key generations come from the config when it was
// opened with the master key (ParseConfig), from the local state, and from
// this device's key shares on the mirror. cfg.Account, the account's
// public signing key, must be set: it verifies the device records.
func Open(ctx context.Context, root blob.Store, cfg *Config, vk keys.Key, me Identity, o Options) (*Volume, error) {
	if len(cfg.Account) != ed25519.PublicKeySize {
		return nil, errors.E(errors.Op("volume.Open"), errors.Invalid, errors.Str(
			"this device does not know its account's public key, which verifies the volume's devices: log in again"))
	}
	k := keys.ForVolume(vk)
	v := &Volume{
		store:    blob.Sub(root, volumePrefix(cfg.ID)),
		cfg:      cfg,
		keys:     k,
		codec:    pack.NewCodec(k),
		gear:     chunk.NewGear(k.Gear),
		me:       me,
		now:      o.Now,
		stateDir: o.StateDir,
		noSave:   o.NoSave,
		// The state on disk is as new as it gets until Open reads more.
		saveEvery: o.SaveEvery,
		lastSave:  time.Now(),
		devices:   map[dvpc.DeviceID]*Device{},
		revoked:   map[dvpc.DeviceID]*Revocation{},
		refused:   map[dvpc.DeviceID]error{},
		logs:      map[dvpc.DeviceID]*devLog{},
		index:     pack.NewIndex(),
		indexes:   map[dvpc.ObjectID]bool{},
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.addGen(1, vk)
	for g, k := range cfg.ring {
		v.addGen(uint32(g+1), k)
	}
	// Offline, a PC works from its local state; without one it must read
	// the mirror, or it would not know even its own journal's end.
	if v.loadState() && o.Offline {
		return v, nil
	}
	if err := v.Sync(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// Config returns the volume's config.
func (v *Volume) Config() *Config { return v.cfg }

// Me returns this device's identity.
func (v *Volume) Me() Identity { return v.me }

// Sync reads what is new on the mirror: device records, journal segments
// and index objects. A segment that breaks its device's chain, fails its
// signature or does not open, and a device record the account did not
// sign, are errors naming the object.
func (v *Volume) Sync(ctx context.Context) error {
	const op errors.Op = "volume.Sync"
	// A stage's Flush writes this device's segments: reading the journal
	// while it does would read them twice.
	v.mu.Lock()
	s := v.stage
	v.mu.Unlock()
	if s != nil {
		s.flushMu.Lock()
		defer s.flushMu.Unlock()
	}
	// Records sealed under a generation this device lacks wait for its key
	// share, which only a device of the volume that is not revoked can
	// sign; after the shares, every record must open.
	if err := v.syncDevices(ctx, true); err != nil {
		return errors.E(op, err)
	}
	if err := v.syncRevocations(ctx, true); err != nil {
		return errors.E(op, err)
	}
	if _, err := v.syncShares(ctx); err != nil {
		return errors.E(op, err)
	}
	if err := v.syncDevices(ctx, false); err != nil {
		return errors.E(op, err)
	}
	if err := v.syncRevocations(ctx, false); err != nil {
		return errors.E(op, err)
	}
	if err := v.syncCheckpoints(ctx); err != nil {
		return errors.E(op, err)
	}
	if err := v.syncJournals(ctx); err != nil {
		return errors.E(op, err)
	}
	if err := v.syncIndex(ctx); err != nil {
		return errors.E(op, err)
	}
	return v.saveState()
}

// syncDevices reads the device records not read yet. With lenient, records
// of a key generation this device lacks are skipped.
func (v *Volume) syncDevices(ctx context.Context, lenient bool) error {
	return v.store.List(ctx, "devices/", func(i blob.Info) error {
		id, err := dvpc.ParseDeviceID(strings.TrimPrefix(i.Name, "devices/"))
		if err != nil {
			return nil // not ours to read
		}
		v.mu.Lock()
		_, ok := v.devices[id]
		_, bad := v.refused[id]
		v.mu.Unlock()
		if ok || bad {
			return nil
		}
		b, err := v.store.Get(ctx, i.Name, 0, -1)
		if err != nil {
			return err
		}
		meta, err := v.metaFor(b)
		if err != nil && lenient {
			return nil
		}
		if err != nil {
			return errors.E(i.Name, err)
		}
		d, err := ParseDevice(meta, b)
		if err != nil {
			return errors.E(i.Name, err)
		}
		if d.ID != id {
			return errors.E(errors.Corrupt, i.Name, errors.Str("device record names another device"))
		}
		if !d.Verify(v.cfg.ID, v.cfg.Account) {
			// Sealed with a volume key but not signed by the account: planted
			// by someone who holds a volume key, such as a stolen PC. The
			// device is not one of the volume's: it gets no key share and
			// its segments are not read. Work goes on; Refused names it.
			v.mu.Lock()
			v.refused[id] = errors.E(i.Name, errUnsigned())
			v.mu.Unlock()
			return nil
		}
		v.mu.Lock()
		v.devices[id] = d
		v.dirty = true
		v.mu.Unlock()
		return nil
	})
}

// segName is a parsed journal object name.
type segName struct {
	name string
	dev  dvpc.DeviceID
	seq  uint64
	id   dvpc.ObjectID
}

func parseSegName(name string) (segName, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "journal" || len(parts[2]) != 16+1+64 || parts[2][16] != '-' {
		return segName{}, false
	}
	dev, err1 := dvpc.ParseDeviceID(parts[1])
	seq, err2 := strconv.ParseUint(parts[2][:16], 16, 64)
	id, err3 := dvpc.ParseObjectID(parts[2][17:])
	if err1 != nil || err2 != nil || err3 != nil {
		return segName{}, false
	}
	return segName{name: name, dev: dev, seq: seq, id: id}, true
}

func (v *Volume) syncJournals(ctx context.Context) error {
	var todo []segName
	seen := map[dvpc.DeviceID]uint64{}
	err := v.store.List(ctx, "journal/", func(i blob.Info) error {
		s, ok := parseSegName(i.Name)
		if !ok {
			return nil
		}
		if s.seq > seen[s.dev] {
			seen[s.dev] = s.seq
		}
		if v.cutOff(s) {
			return nil // signed after its device was revoked: not part of the volume
		}
		if v.isRefused(s.dev) {
			return nil // of a planted device record
		}
		v.mu.Lock()
		l := v.logs[s.dev]
		v.mu.Unlock()
		if l == nil || s.seq > l.seq {
			todo = append(todo, s) // List is in name order: by device, then seq
			return nil
		}
		return forked(s, l)
	})
	if err != nil {
		return err
	}
	for dev, l := range v.logs {
		if seen[dev] < l.seq {
			return errors.E(errors.Corrupt, "journal/"+dev.String(), errors.Str("the mirror has fewer journal segments than were read before: it lost or withheld data; run 'dvpc check' and repair it from another mirror"))
		}
	}
	for _, s := range todo {
		if err := v.readSegment(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// forked refuses a second segment with the sequence number of the one
// already read.
func forked(s segName, l *devLog) error {
	if s.seq == l.seq && s.id != l.last {
		return errors.E(errors.Corrupt, s.name, errors.Str("two journal segments claim one sequence number (a forked journal): the device's identity was copied, or the mirror injected a segment"))
	}
	return nil
}

func (v *Volume) readSegment(ctx context.Context, s segName) error {
	v.mu.Lock()
	d := v.devices[s.dev]
	l := v.logs[s.dev]
	v.mu.Unlock()
	if l == nil {
		l = &devLog{}
	}
	if s.seq <= l.seq {
		return forked(s, l)
	}
	if d == nil {
		return errors.E(errors.Corrupt, s.name, errors.Str("segment of a device with no record on the mirror"))
	}
	b, err := v.store.Get(ctx, s.name, 0, -1)
	if err != nil {
		return err
	}
	if dvpc.Hash(b) != s.id {
		return errors.E(errors.Corrupt, s.name, errors.Str("segment bytes do not match their hash"))
	}
	seg, err := v.openSegment(d, b)
	if err != nil {
		return errors.E(s.name, err)
	}
	if seg.Device != s.dev || seg.Seq != s.seq || seg.Seq != l.seq+1 || seg.Prev != l.last {
		return errors.E(errors.Corrupt, s.name, errors.Str("segment breaks its device's chain (a segment is missing, reordered or forged)"))
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	l.seq, l.last = seg.Seq, s.id
	l.entries = append(l.entries, seg.Entries...)
	v.logs[s.dev] = l
	for i := range seg.Entries {
		v.clock = max(v.clock, seg.Entries[i].Time)
	}
	v.tree, v.dirty = nil, true
	return nil
}

// openSegment verifies and opens a segment of device d with the keys of
// its generation.
func (v *Volume) openSegment(d *Device, b []byte) (*journal.Segment, error) {
	h, err := journal.ParseHead(b)
	if err != nil {
		return nil, err
	}
	g, err := v.gen(h.Gen)
	if err != nil {
		return nil, err
	}
	return journal.Parse(g.keys.Meta, ed25519.PublicKey(d.Public), b)
}

func (v *Volume) syncIndex(ctx context.Context) error {
	return v.store.List(ctx, "index/", func(i blob.Info) error {
		id, err := dvpc.ParseObjectID(strings.TrimPrefix(i.Name, "index/"))
		if err != nil || v.indexes[id] {
			return nil
		}
		return v.readIndex(ctx, i.Name, id)
	})
}

func (v *Volume) readIndex(ctx context.Context, name string, id dvpc.ObjectID) error {
	b, err := v.store.Get(ctx, name, 0, -1)
	if err != nil {
		return err
	}
	if dvpc.Hash(b) != id {
		return errors.E(errors.Corrupt, name, errors.Str("index bytes do not match their hash"))
	}
	meta, err := v.metaFor(b)
	if err != nil {
		return errors.E(name, err)
	}
	packs, err := pack.ParseIndex(meta, b)
	if err != nil {
		return errors.E(name, err)
	}
	v.addIndex(id, packs)
	return nil
}

// addIndex records the packs of the index object id.
func (v *Volume) addIndex(id dvpc.ObjectID, packs []pack.PackEntries) {
	for _, p := range packs {
		v.index.Add(p)
	}
	v.mu.Lock()
	v.indexes[id] = true
	v.dirty = true
	v.mu.Unlock()
}

// Changes returns every change of the volume's history, from all devices,
// in no set order. It reads from the mirror any history that the local
// state skipped by starting from a checkpoint.
func (v *Volume) Changes(ctx context.Context) ([]Change, error) {
	if err := v.loadHistory(ctx); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.changesLocked(), nil
}

func (v *Volume) changesLocked() []Change {
	out := v.committedLocked(len(v.staged))
	for i := range v.staged {
		out = append(out, Change{Device: v.me.ID, Entry: &v.staged[i]})
	}
	return out
}

// committedLocked returns the changes in journal segments, with room for
// extra more.
func (v *Volume) committedLocked(extra int) []Change {
	n := extra
	for _, l := range v.logs {
		n += len(l.entries)
	}
	out := make([]Change, 0, n)
	for dev, l := range v.logs {
		for i := range l.entries {
			out = append(out, Change{Device: dev, Entry: &l.entries[i]})
		}
	}
	return out
}

// Known returns how many changes this PC holds (those before a base
// checkpoint are not counted until history is read).
func (v *Volume) Known() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, l := range v.logs {
		n += len(l.entries)
	}
	return n
}

// Tree returns the merged tree of all changes known.
func (v *Volume) Tree() *Tree {
	if v.needsHistory() {
		// A device that was offline wrote changes older than the base
		// checkpoint: they must be merged in clock order, from the start.
		// If the history cannot be read, the merge from the checkpoint is
		// the best there is.
		_ = v.loadHistory(context.Background())
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tree == nil {
		changes := v.changesLocked()
		if v.base == nil {
			v.tree = Merge(changes, v.deviceName)
		} else {
			v.tree = MergeFrom(v.base.nodes, changes, v.deviceName)
		}
	}
	return v.tree
}

// needsHistory reports whether some change known is not newer than the
// base checkpoint, so that merging from the checkpoint would be wrong.
func (v *Volume) needsHistory() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.base == nil || v.tree != nil {
		return false
	}
	for _, l := range v.logs {
		for i := range l.entries {
			if l.entries[i].Time <= v.base.time {
				return true
			}
		}
	}
	return false
}

// TreeAt returns the tree as it was at the given moment.
func (v *Volume) TreeAt(ctx context.Context, when time.Time) (*Tree, error) {
	changes, err := v.Changes(ctx)
	if err != nil {
		return nil, err
	}
	return Merge(Before(changes, when), v.DeviceName), nil
}

// DeviceName returns the name of a device, or a short form of its id.
func (v *Volume) DeviceName(id dvpc.DeviceID) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.deviceName(id)
}

func (v *Volume) deviceName(id dvpc.DeviceID) string {
	if d := v.devices[id]; d != nil && d.Name != "" {
		return d.Name
	}
	return id.String()[:8]
}

// Devices returns the device records known.
func (v *Volume) Devices() []*Device {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]*Device, 0, len(v.devices))
	for _, d := range v.devices {
		out = append(out, d)
	}
	return out
}

func (v *Volume) isRefused(id dvpc.DeviceID) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, bad := v.refused[id]
	return bad
}

// Refused returns, one error each, the device records on the mirror that
// the account did not sign: planted by someone who holds a volume key.
// They are ignored; RemoveRefused deletes them.
func (v *Volume) Refused() []error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []error
	for _, err := range v.refused {
		out = append(out, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Error() < out[j].Error() })
	return out
}

// RemoveRefused deletes from the mirror the device records that the
// account did not sign, and the journal segments of those devices, and
// returns the names it deleted.
func (v *Volume) RemoveRefused(ctx context.Context) ([]string, error) {
	const op errors.Op = "volume.RemoveRefused"
	v.mu.Lock()
	ids := make([]dvpc.DeviceID, 0, len(v.refused))
	for id := range v.refused {
		ids = append(ids, id)
	}
	v.mu.Unlock()
	var gone []string
	for _, id := range ids {
		var names []string
		err := v.store.List(ctx, "journal/"+id.String()+"/", func(i blob.Info) error {
			names = append(names, i.Name)
			return nil
		})
		if err != nil {
			return gone, errors.E(op, err)
		}
		names = append(names, "devices/"+id.String())
		for _, name := range names {
			if err := v.store.Delete(ctx, name); err != nil {
				return gone, errors.E(op, err)
			}
			gone = append(gone, name)
		}
		v.mu.Lock()
		delete(v.refused, id)
		v.mu.Unlock()
	}
	return gone, nil
}
