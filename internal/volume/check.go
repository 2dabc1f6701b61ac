package volume

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/pack"
)

// listPacks returns the packs on the mirror with their sizes.
func (v *Volume) listPacks(ctx context.Context) (map[dvpc.ObjectID]int64, error) {
	packs := map[dvpc.ObjectID]int64{}
	err := v.store.List(ctx, "data/", func(i blob.Info) error {
		id, err := dvpc.ParseObjectID(i.Name[strings.LastIndexByte(i.Name, '/')+1:])
		if err == nil && i.Name == packName(id) {
			packs[id] = i.Size
		}
		return nil
	})
	return packs, err
}

// readPackHeader reads the key generation at the start of a pack and opens
// the header at its end.
func (v *Volume) readPackHeader(ctx context.Context, id dvpc.ObjectID, size int64) (uint32, []pack.Entry, error) {
	head, err := v.store.Get(ctx, packName(id), 0, pack.FirstChunk)
	if err != nil {
		return 0, nil, err
	}
	gen, _, err := dvpc.ParseGenHeader(head, dvpc.KindPack)
	if err != nil {
		return 0, nil, err
	}
	g, err := v.gen(gen)
	if err != nil {
		return 0, nil, err
	}
	const guess = 64 << 10
	off := max(0, size-guess)
	tail, err := v.store.Get(ctx, packName(id), off, -1)
	if err != nil {
		return 0, nil, err
	}
	if len(tail) >= pack.TrailerSize {
		if need := pack.HeaderLength(tail[len(tail)-pack.TrailerSize:]); need > int64(len(tail)) && need <= size {
			if tail, err = v.store.Get(ctx, packName(id), size-need, -1); err != nil {
				return 0, nil, err
			}
		}
	}
	es, err := pack.ParseHeader(g.keys.Meta, tail, size)
	return gen, es, err
}

// checkIndex opens an index object.
func (v *Volume) checkIndex(_ string, b []byte) error {
	meta, err := v.metaFor(b)
	if err == nil {
		_, err = pack.ParseIndex(meta, b)
	}
	return err
}

// checkDevice opens a device record and checks the account's signature.
func (v *Volume) checkDevice(_ string, b []byte) error {
	meta, err := v.metaFor(b)
	if err != nil {
		return err
	}
	d, err := ParseDevice(meta, b)
	if err != nil {
		return err
	}
	if !d.Verify(v.cfg.ID, v.cfg.Account) {
		return errUnsigned()
	}
	return nil
}

// checkShare verifies a key share's form and signature; only its
// recipient can open it, so this device opens its own.
func (v *Volume) checkShare(name string, b []byte) error {
	s, err := ParseKeyShare(b)
	if err != nil {
		return err
	}
	if name != keyShareName(s.Gen, s.Device) {
		return errors.E(errors.Corrupt, errors.Str("key share names another generation or device"))
	}
	if s.Device == v.me.ID {
		_, err = v.openShare(b, s.Gen)
		return err
	}
	v.mu.Lock()
	d := v.devices[s.By]
	v.mu.Unlock()
	if d == nil || !s.Verify(d.Public) {
		return errors.E(errors.Corrupt, errors.Str("key share is not signed by a device of this volume"))
	}
	return nil
}

// RecoverPacks adopts packs that no index names (left by an interrupted
// write) by reading their own headers, and writes an index object for
// them, so their chunks are not uploaded again. Packs whose header does not
// open are left alone for 'check' to report.
func (v *Volume) RecoverPacks(ctx context.Context) (int, error) {
	packs, err := v.listPacks(ctx)
	if err != nil {
		return 0, err
	}
	var found []pack.PackEntries
	for id, size := range packs {
		if v.index.Has(id) {
			continue
		}
		gen, es, err := v.readPackHeader(ctx, id, size)
		if err != nil {
			continue
		}
		found = append(found, pack.PackEntries{Pack: id, Gen: gen, Entries: es})
	}
	if len(found) == 0 {
		return 0, nil
	}
	if err := v.writeIndex(ctx, found); err != nil {
		return 0, err
	}
	return len(found), v.SaveState()
}

// Problem is one thing check found wrong, and what it affects.
type Problem struct {
	Object   string   // the object on the mirror
	Err      error    // what is wrong with it
	Affected []string // "path @ time (device)" of every file version that needs it
}

// CheckResult is what Check found.
type CheckResult struct {
	Packs, Chunks, Segments, Indexes int
	Bytes                            int64
	Problems                         []Problem
}

// Check verifies that every object the volume needs is on the mirror and
// intact: each object's bytes against the hash in its name, every pack
// header, and, with readData, every chunk's AEAD and keyed hash. It says
// which file versions each missing or bad object affects.
func (v *Volume) Check(ctx context.Context, readData bool, prog *Progress) (*CheckResult, error) {
	res := &CheckResult{}
	bad := map[dvpc.ObjectID]error{}      // packs
	badChunk := map[dvpc.ChunkID]string{} // chunk → object that fails
	if err := v.checkMeta(ctx, res); err != nil {
		return nil, err
	}
	packs, err := v.listPacks(ctx)
	if err != nil {
		return nil, err
	}
	v.index.Packs(func(p pack.PackEntries) {
		if _, ok := packs[p.Pack]; !ok {
			bad[p.Pack] = errors.E(errors.NotExist, errors.Str("pack is missing from the mirror"))
		}
	})
	ids := make([]dvpc.ObjectID, 0, len(packs))
	for id := range packs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	for _, id := range ids {
		prog.TotalBytes.Add(packs[id])
	}
	for _, id := range ids {
		res.Packs++
		res.Bytes += packs[id]
		if err := v.checkPack(ctx, id, packs[id], readData, badChunk, res); err != nil {
			bad[id] = err
		}
		prog.Bytes.Add(packs[id])
		prog.Files.Add(1)
	}
	v.index.Packs(func(p pack.PackEntries) {
		if err := bad[p.Pack]; err != nil {
			for _, e := range p.Entries {
				if _, ok := badChunk[e.ID]; !ok {
					badChunk[e.ID] = packName(p.Pack)
				}
			}
		}
	})
	for id, err := range bad {
		res.Problems = append(res.Problems, Problem{Object: packName(id), Err: err})
	}
	if err := v.affected(ctx, res, badChunk); err != nil {
		return nil, err
	}
	return res, nil
}

// checkMeta verifies every object but the packs: journal segments, index
// objects and checkpoints against the hash in their names and by opening
// them; device records and the volume config by opening them.
func (v *Volume) checkMeta(ctx context.Context, res *CheckResult) error {
	verify := map[string]func(name string, b []byte) error{
		"journal/":     v.checkSegment,
		"index/":       v.checkIndex,
		"checkpoints/": func(_ string, b []byte) error { _, err := v.parseCheckpoint(b); return err },
		"devices/":     v.checkDevice,
		"revoked/":     func(_ string, b []byte) error { _, err := v.checkRevocation(b); return err },
		ConfigObject:   func(_ string, b []byte) error { return v.checkConfig(b) },
		"keys/":        v.checkShare,
	}
	for _, prefix := range []string{"journal/", "index/", "checkpoints/", "devices/", "revoked/", "keys/", ConfigObject} {
		err := v.store.List(ctx, prefix, func(i blob.Info) error {
			switch prefix {
			case "journal/":
				res.Segments++
			case "index/":
				res.Indexes++
			}
			b, err := v.store.Get(ctx, i.Name, 0, -1)
			if err == nil {
				if sum, ok := blob.Sum(i.Name); ok && dvpc.Hash(b) != sum {
					err = errors.E(errors.Corrupt, errors.Str("bytes do not match the hash in the name"))
				}
			}
			if err == nil {
				err = verify[prefix](i.Name, b)
			}
			if err != nil {
				res.Problems = append(res.Problems, Problem{Object: i.Name, Err: err})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// checkSegment opens a segment with its device's key.
func (v *Volume) checkSegment(name string, b []byte) error {
	s, ok := parseSegName(name)
	if !ok {
		return nil
	}
	v.mu.Lock()
	d := v.devices[s.dev]
	v.mu.Unlock()
	if d == nil {
		return errors.E(errors.Corrupt, errors.Str("segment of a device with no record"))
	}
	seg, err := v.openSegment(d, b)
	if err == nil && seg.Seq != s.seq {
		err = errors.E(errors.Corrupt, errors.Str("segment's sequence number differs from its name"))
	}
	return err
}

// checkPack verifies one pack: its hash, its header against the index, and
// with readData each chunk.
func (v *Volume) checkPack(ctx context.Context, id dvpc.ObjectID, size int64, readData bool, badChunk map[dvpc.ChunkID]string, res *CheckResult) error {
	b, err := v.store.Get(ctx, packName(id), 0, -1)
	if err != nil {
		return err
	}
	if dvpc.Hash(b) != id {
		return errors.E(errors.Corrupt, errors.Str("pack bytes do not match the hash in its name"))
	}
	gen, _, err := dvpc.ParseGenHeader(b, dvpc.KindPack)
	if err != nil {
		return errors.E(err)
	}
	g, err := v.gen(gen)
	if err != nil {
		return err
	}
	es, err := pack.ParseHeader(g.keys.Meta, b, size)
	if err != nil {
		return err
	}
	res.Chunks += len(es)
	if !readData {
		return nil
	}
	var buf []byte
	for _, e := range es {
		if buf, err = g.codec.Open(buf[:0], e.ID, b[e.Offset:e.Offset+e.Length]); err != nil {
			badChunk[e.ID] = packName(id)
			res.Problems = append(res.Problems, Problem{Object: fmt.Sprintf("%s chunk %s", packName(id), e.ID), Err: err})
		}
	}
	return nil
}

// affected fills in, for each problem, the file versions that need a bad
// chunk, and adds a problem for chunks that no index names at all.
func (v *Volume) affected(ctx context.Context, res *CheckResult, badChunk map[dvpc.ChunkID]string) error {
	byObject := map[string][]string{}
	missing := map[dvpc.ChunkID][]string{}
	changes, err := v.Changes(ctx)
	if err != nil {
		return err
	}
	for _, c := range changes {
		for _, ref := range c.Chunks {
			desc := fmt.Sprintf("%s @ %s (%s)", c.Path, c.Time.Time().UTC().Format("2006-01-02 15:04:05"), v.DeviceName(c.Device))
			if obj, ok := badChunk[ref.ID]; ok {
				byObject[obj] = appendOnce(byObject[obj], desc)
			} else if _, ok := v.index.Lookup(ref.ID); !ok {
				missing[ref.ID] = appendOnce(missing[ref.ID], desc)
			}
		}
	}
	for i := range res.Problems {
		obj := res.Problems[i].Object
		if k := strings.Index(obj, " chunk "); k >= 0 {
			obj = obj[:k]
		}
		res.Problems[i].Affected = byObject[obj]
	}
	for id, aff := range missing {
		res.Problems = append(res.Problems, Problem{Object: "chunk " + id.String(),
			Err: errors.E(errors.NotExist, errors.Str("chunk is in no index and no pack")), Affected: aff})
	}
	sort.Slice(res.Problems, func(i, j int) bool { return res.Problems[i].Object < res.Problems[j].Object })
	return nil
}

func appendOnce(s []string, x string) []string {
	if len(s) > 0 && s[len(s)-1] == x {
		return s
	}
	return append(s, x)
}
