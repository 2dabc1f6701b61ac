package volume

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/argon2"

	"github.com/dvpc/dvpc/internal/chunk"
	"github.com/dvpc/dvpc/internal/dvpc"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/journal"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/pack"
	"github.com/dvpc/dvpc/internal/seal"
)

// The test vectors of docs/FORMAT.md: one object of each kind, built from
// the fixed inputs below, must match the doc byte for byte. A changed vector
// is a new format version, not a doc to update. The one exception is the
// zstd frame of the compressible chunk, which depends on the encoder: a new
// klauspost/compress may change it (and the pack's bytes) without changing
// the format.
//
// To print the blocks the doc holds:
//
//	DVPC_PRINT_VECTORS=1 go test -run TestFormatVectors -v ./internal/volume

const formatDoc = "../../docs/FORMAT.md"

// The fixed inputs ("Fixed inputs" in the doc).
var (
	vecPassphrase = []byte("correct horse battery staple")
	vecKeyFile    = byteSeq(0xc0, 32)
	vecCode       = "01234-56789-ABCDE-FGHJK-MBNGR"
	vecSalt       = [16]byte(byteSeq(0x00, 16))
	vecMaster     = keys.Key(byteSeq(0x40, 32))
	vecVolumeKey  = keys.Key(byteSeq(0x60, 32))
	vecGen2Key    = keys.Key(byteSeq(0x70, 32)) // key generation 2
	vecEphemeral  = keys.Key(byteSeq(0xb0, 32)) // the key share's ephemeral X25519 key
	vecVolumeID   = dvpc.VolumeID(byteSeq(0x80, 16))
	vecDeviceID   = dvpc.DeviceID(byteSeq(0x90, 16))
	vecSeed       = byteSeq(0xa0, ed25519.SeedSize)
	vecCreated    = time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	vecClock      = journal.MakeHLC(time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC))
	vecMTime      = time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC).UnixNano()
	vecChunkA     = bytes.Repeat([]byte("DVPC format test vector. "), 16) // compressible
	vecChunkB     = blake3XOF("dvpc chunk test vector", 100)              // not
)

// byteSeq returns n bytes counting up from first, modulo 256.
func byteSeq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// blake3XOF returns the first n bytes of the unkeyed BLAKE3 extendable
// output of msg.
func blake3XOF(msg string, n int) []byte {
	h := blake3.New()
	h.WriteString(msg)
	b := make([]byte, n)
	h.Digest().Read(b)
	return b
}

// hkdfKey is Derive for input key material of any length.
func hkdfKey(ikm []byte, label string) keys.Key {
	k, err := hkdf.Key(sha256.New, ikm, nil, label, keys.Size)
	if err != nil {
		panic(err)
	}
	return keys.Key(k)
}

// accountKeys are the keys of the account vector, derived as the doc says.
type accountKeys struct {
	seed, auth, unwrap, keyFileUnwrap keys.Key
	code, codeAuth, codeUnwrap        keys.Key
	codeID                            keys.SlotID
}

func vecAccountKeys() accountKeys {
	p := keys.TestParams()
	var k accountKeys
	k.seed = keys.Key(argon2.IDKey(vecPassphrase, vecSalt[:], p.Time, p.MemoryKiB, p.Threads, keys.Size))
	k.auth = keys.Derive(k.seed, "dvpc v1 auth")
	k.unwrap = keys.Derive(k.seed, "dvpc v1 unwrap")
	fileSum := sha256.Sum256(vecKeyFile)
	k.keyFileUnwrap = hkdfKey(append(k.unwrap[:], fileSum[:]...), "dvpc v1 key file unwrap")
	k.code = sha256.Sum256([]byte(strings.ReplaceAll(vecCode, "-", "")))
	k.codeAuth = keys.Derive(k.code, "dvpc v1 recovery auth")
	k.codeUnwrap = keys.Derive(k.code, "dvpc v1 recovery unwrap")
	id := keys.Derive(k.code, "dvpc v1 recovery id")
	copy(k.codeID[:], id[:])
	return k
}

// nonceStream is the vectors' nonce source: the bytes next, next+1, ...
// modulo 256.
type nonceStream struct{ next byte }

func (s *nonceStream) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = s.next
		s.next++
	}
	return len(p), nil
}

// nonces returns the nonce stream of an object of kind k: it starts at the
// kind byte, so no two objects share a nonce under one key.
func nonces(k dvpc.Kind) *nonceStream { return &nonceStream{next: byte(k)} }

// vecKeys returns the volume's subkeys, each sealing key drawing its nonces
// from its own stream for an object of kind k.
func vecKeys(k dvpc.Kind) *keys.Volume {
	v := keys.ForVolume(vecVolumeKey)
	v.Data = v.Data.WithNonces(nonces(k))
	v.Meta = v.Meta.WithNonces(nonces(k))
	v.Local = v.Local.WithNonces(nonces(k))
	return v
}

// block is one vector as the doc shows it, in a code block.
type block struct{ strings.Builder }

func (b *block) line(format string, args ...any) {
	fmt.Fprintf(b, format, args...)
	b.WriteByte('\n')
}

// hex writes data as lower-case hex, 32 bytes a line.
func (b *block) hex(label string, data []byte) {
	b.line("%s (%d bytes):", label, len(data))
	for len(data) > 0 {
		n := min(len(data), 32)
		b.line("%x", data[:n])
		data = data[n:]
	}
}

// object writes an object's name, SHA-256 and bytes.
func (b *block) object(kind, name string, data []byte) {
	b.line("%s name: %s", kind, name)
	b.line("%s sha256: %x", kind, sha256.Sum256(data))
	b.hex(kind+" bytes", data)
}

// vectors holds the objects built from the fixed inputs.
type vectors struct {
	blocks []string

	priv                    ed25519.PrivateKey
	account, config, device []byte
	share                   []byte
	mirrors                 []byte
	cfg                     *Config
	dev                     *Device
	idA, idB                dvpc.ChunkID
	pack                    []byte
	packID                  dvpc.ObjectID
	packEntries             []pack.Entry
	index                   []byte
	indexID                 dvpc.ObjectID
	segment                 []byte
	entries                 []journal.Entry
	state                   []byte
	stage                   []byte
	checkpoint              []byte
	stateDir                string
}

func buildVectors(t *testing.T) *vectors {
	t.Helper()
	v := &vectors{priv: ed25519.NewKeyFromSeed(vecSeed)}
	v.keyBlock()
	v.xaesBlock()
	v.buildAccount()
	v.buildConfig()
	v.buildDevice()
	v.buildKeyShare(t)
	v.buildMirrors()
	v.buildPack(t)
	v.buildIndex()
	v.buildSegment(t)
	v.buildState(t)
	v.buildStage(t)
	v.buildCheckpoint(t)
	v.mergeBlock()
	return v
}

func (v *vectors) add(b *block) { v.blocks = append(v.blocks, b.String()) }

func (v *vectors) keyBlock() {
	var b block
	k := vecAccountKeys()
	b.line("argon2id output: %x", k.seed)
	b.line("auth key:        %x", k.auth)
	b.line("unwrap key:      %x", k.unwrap)
	b.line("key file unwrap: %x", k.keyFileUnwrap)
	b.line("recovery key:    %x", k.code)
	b.line("recovery auth:   %x", k.codeAuth)
	b.line("recovery hash:   %x", sha256.Sum256(k.codeAuth[:]))
	b.line("recovery unwrap: %x", k.codeUnwrap)
	b.line("recovery id:     %x", k.codeID[:])
	for _, d := range []struct{ name, label string }{
		{"data key:        ", "dvpc v1 data"},
		{"meta key:        ", "dvpc v1 meta"},
		{"chunk id key:    ", "dvpc v1 chunk id"},
		{"gear key:        ", "dvpc v1 chunker gear"},
		{"local key:       ", "dvpc v1 local state"},
	} {
		b.line("%s%x", d.name, keys.Derive(vecVolumeKey, d.label))
	}
	b.line("gen 2 data key:  %x", keys.Derive(vecGen2Key, "dvpc v1 data"))
	b.line("gen 2 meta key:  %x", keys.Derive(vecGen2Key, "dvpc v1 meta"))
	acct := keys.AccountSigningKey(vecMaster)
	b.line("account seed:    %x", acct.Seed())
	b.line("account public:  %x", acct.Public())
	b.line("public key:      %x", v.priv.Public())
	x := keys.DeviceX25519(v.priv)
	b.line("x25519 private:  %x", x.Bytes())
	b.line("x25519 public:   %x", x.PublicKey().Bytes())
	v.add(&b)
}

// The two vectors of c2sp.org/XAES-256-GCM: key, additional data, and the
// sealed message after its nonce.
var xaesVectors = []struct {
	key byte
	ad  string
}{{0x01, ""}, {0x03, "c2sp.org/XAES-256-GCM"}}

func (v *vectors) xaesBlock() {
	var b block
	for _, x := range xaesVectors {
		var nonce [seal.NonceSize]byte
		copy(nonce[:], "ABCDEFGHIJKLMNOPQRSTUVWX")
		sealed := seal.NewKey([32]byte(bytes.Repeat([]byte{x.key}, 32))).SealWithNonce(nil, nonce, []byte("XAES-256-GCM"), []byte(x.ad))
		b.line("key %02x×32, ad %q: %x", x.key, x.ad, sealed[seal.NonceSize:])
	}
	v.add(&b)
}

func (v *vectors) buildAccount() {
	k := vecAccountKeys()
	pass := seal.NewKey(k.keyFileUnwrap).WithNonces(nonces(dvpc.KindAccount))
	code := seal.NewKey(k.codeUnwrap).WithNonces(nonces(dvpc.KindAccount))
	a := &keys.Account{Params: keys.TestParams(), Salt: vecSalt, Flags: keys.FlagKeyFile, Slots: []keys.Slot{
		{Kind: keys.SlotPassphrase, Sealed: pass.Seal(nil, vecMaster[:], []byte("dvpc account master key"))},
		{Kind: keys.SlotRecovery, ID: k.codeID, Sealed: code.Seal(nil, vecMaster[:], append([]byte("dvpc account recovery "), k.codeID[:]...))},
	}}
	v.account = a.Marshal()
	var b block
	b.object("account", AccountObject, v.account)
	v.add(&b)
}

func (v *vectors) buildConfig() {
	v.cfg = &Config{ID: vecVolumeID, Name: "Documents", Created: vecCreated, Chunk: chunk.DefaultParams()}
	v.cfg.setMaster(vecMaster)
	master := seal.NewKey(vecMaster).WithNonces(nonces(dvpc.KindVolume))
	for g, k := range []keys.Key{vecVolumeKey, vecGen2Key} {
		ad := binary.BigEndian.AppendUint32(append([]byte("dvpc volume key "), vecVolumeID[:]...), uint32(g+1))
		v.cfg.Wrapped = append(v.cfg.Wrapped, master.Seal(nil, k[:], ad))
	}
	v.config = v.cfg.Marshal(vecKeys(dvpc.KindVolume).Generation(2, vecGen2Key).Meta.WithNonces(nonces(dvpc.KindVolume)))
	var b block
	b.object("config", volumePrefix(vecVolumeID)+ConfigObject, v.config)
	v.add(&b)
}

func (v *vectors) buildDevice() {
	v.dev = &Device{ID: vecDeviceID, Name: "laptop", Public: v.priv.Public().(ed25519.PublicKey),
		X25519: keys.DeviceX25519(v.priv).PublicKey().Bytes(), Created: vecCreated.Add(time.Second)}
	v.dev.Sign(vecVolumeID, keys.AccountSigningKey(vecMaster))
	v.device = v.dev.Marshal(vecKeys(dvpc.KindDevice).Meta, 1)
	var b block
	b.object("device", volumePrefix(vecVolumeID)+"devices/"+vecDeviceID.String(), v.device)
	v.add(&b)
}

// vecMirrorSet is the mirror set of the vector: a folder, a server with
// two endpoints, and an S3 bucket, quorum 2.
func vecMirrorSet() *MirrorSet {
	return &MirrorSet{Version: 3, Quorum: 2, Mirrors: []MirrorRecord{
		{ID: "0123456789abcdef", Endpoints: []string{"/media/usb/dvpc"}, Removable: true},
		{ID: "fedcba9876543210", Endpoints: []string{"https://home.example:7832", "https://home2.example:7832"}, User: "ann",
			Fingerprint: "sha256:00112233"},
		{ID: "00000000000000aa", Endpoints: []string{"s3://s3.example:9000/bucket/dvpc"}},
	}}
}

func (v *vectors) buildMirrors() {
	v.mirrors = MarshalMirrors(vecKeys(dvpc.KindMirrors).Meta, 1, vecVolumeID, vecMirrorSet())
	var b block
	b.object("mirrors", volumePrefix(vecVolumeID)+mirrorsName(3), v.mirrors)
	v.add(&b)
}

func (v *vectors) checkMirrors(t *testing.T) {
	if n, err := ParseMirrorsVersion(v.mirrors); err != nil || n != 3 {
		t.Fatalf("version without a key = %d, %v; want 3", n, err)
	}
	m, err := ParseMirrors(keys.ForVolume(vecVolumeKey).Meta, vecVolumeID, v.mirrors)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, vecMirrorSet()) {
		t.Errorf("decoded %+v, want %+v", m, vecMirrorSet())
	}
	// The version is bound to the seal: a mirror cannot pass an old set
	// off as a newer one.
	b := append([]byte(nil), v.mirrors...)
	b[17]++
	if _, err := ParseMirrors(keys.ForVolume(vecVolumeKey).Meta, vecVolumeID, b); !errors.Is(err, errors.Corrupt) {
		t.Errorf("a changed version opens: %v", err)
	}
}

// buildKeyShare seals key generation 2 to the vector device, written by
// itself (as a device does at login).
func (v *vectors) buildKeyShare(t *testing.T) {
	sealer := func(k *seal.Key) *seal.Key { return k.WithNonces(nonces(dvpc.KindKeyShare)) }
	me := Identity{ID: vecDeviceID, Key: v.priv}
	var err error
	if v.share, err = sealKeyShare(vecVolumeID, 2, v.dev, me, vecGen2Key, &vecEphemeral, sealer); err != nil {
		t.Fatal(err)
	}
	var b block
	b.object("key share", volumePrefix(vecVolumeID)+keyShareName(2, vecDeviceID), v.share)
	v.add(&b)
}

func (v *vectors) buildPack(t *testing.T) {
	k := vecKeys(dvpc.KindPack)
	codec := pack.NewCodec(k).WithGoEncoder() // the same frame in every build
	w := pack.NewWriter(k.Meta, 1)
	var b block
	for i, data := range [][]byte{vecChunkA, vecChunkB} {
		id := codec.ID(data)
		sealed := codec.Seal(nil, id, data)
		body, err := keys.ForVolume(vecVolumeKey).Data.Open(nil, sealed, append([]byte("dvpc chunk"), id[:]...))
		if err != nil {
			t.Fatal(err)
		}
		name := string(rune('A' + i))
		b.line("chunk %s id: %s", name, id)
		b.hex("chunk "+name+" body", body)
		w.Add(id, sealed, len(data))
	}
	v.idA, v.idB = codec.ID(vecChunkA), codec.ID(vecChunkB)
	v.pack, v.packID, v.packEntries = w.Finish()
	b.object("pack", volumePrefix(vecVolumeID)+packName(v.packID), v.pack)
	v.add(&b)
}

func (v *vectors) buildIndex() {
	packs := []pack.PackEntries{{Pack: v.packID, Gen: 1, Entries: v.packEntries}}
	v.index = pack.MarshalIndex(vecKeys(dvpc.KindIndex).Meta, 1, packs)
	v.indexID = dvpc.Hash(v.index)
	var b block
	b.hex("index body", pack.EncodeIndex(packs))
	b.object("index", volumePrefix(vecVolumeID)+"index/"+v.indexID.String(), v.index)
	v.add(&b)
}

// vecEntries are the entries of the segment vector: every op, a base, a
// non-ASCII path, a negative mtime.
func vecEntries() []journal.Entry {
	ids := chunk.NewIDKey(keys.ForVolume(vecVolumeKey).ChunkID)
	a := journal.ChunkRef{ID: ids.Sum(vecChunkA), Size: uint32(len(vecChunkA))}
	b := journal.ChunkRef{ID: ids.Sum(vecChunkB), Size: uint32(len(vecChunkB))}
	t0, ms := vecClock, journal.HLC(1<<16)
	return []journal.Entry{
		{Time: t0, Op: journal.Mkdir, Path: "/Documents", Mode: 0o755, MTime: vecMTime},
		{Time: t0 + 1, Op: journal.Put, Path: "/Documents/résumé.txt", Mode: 0o644, MTime: vecMTime,
			Size: uint64(a.Size + b.Size), Chunks: []journal.ChunkRef{a, b}},
		{Time: t0 + 2, Op: journal.Symlink, Path: "/Documents/latest", Mode: 0o777, MTime: -1e9, Target: "résumé.txt"},
		{Time: t0 + ms, Op: journal.Put, Path: "/Documents/résumé.txt", Base: journal.Version{Device: vecDeviceID, Time: t0 + 1},
			Mode: 0o600, MTime: vecMTime + 1e9, Size: uint64(a.Size), Chunks: []journal.ChunkRef{a}},
		{Time: t0 + ms + 1, Op: journal.Delete, Path: "/Documents/latest", Base: journal.Version{Device: vecDeviceID, Time: t0 + 2}},
	}
}

func (v *vectors) buildSegment(t *testing.T) {
	v.entries = vecEntries()
	plain := journal.EncodeEntries(v.entries)
	if len(plain) > 512 {
		t.Fatalf("segment entries are %d bytes: the writer would compress them", len(plain))
	}
	seg := &journal.Segment{Device: vecDeviceID, Seq: 1, Entries: v.entries}
	v.segment = seg.Marshal(vecKeys(dvpc.KindSegment).Meta, 1, v.priv)
	var b block
	b.hex("segment entries", plain)
	b.object("segment", volumePrefix(vecVolumeID)+journal.Name(vecDeviceID, 1, dvpc.Hash(v.segment)), v.segment)
	v.add(&b)
}

// stateVolume returns a volume of the vector config with empty caches and
// its local state in dir.
func stateVolume(cfg *Config, k *keys.Volume, dir string) *Volume {
	v := &Volume{cfg: cfg, keys: k, codec: pack.NewCodec(k), stateDir: dir, devices: map[dvpc.DeviceID]*Device{},
		logs: map[dvpc.DeviceID]*devLog{}, index: pack.NewIndex(), indexes: map[dvpc.ObjectID]bool{}}
	v.addGen(1, vecVolumeKey)
	return v
}

func (v *vectors) buildState(t *testing.T) {
	v.stateDir = t.TempDir()
	vol := stateVolume(v.cfg, vecKeys(dvpc.KindLocal), v.stateDir)
	vol.devices[vecDeviceID] = v.dev
	vol.logs[vecDeviceID] = &devLog{seq: 1, last: dvpc.Hash(v.segment), entries: v.entries}
	vol.index.Add(pack.PackEntries{Pack: v.packID, Gen: 1, Entries: v.packEntries})
	vol.indexes[v.indexID] = true
	vol.clock = v.entries[len(v.entries)-1].Time
	vol.dirty = true
	if err := vol.saveState(); err != nil {
		t.Fatal(err)
	}
	var err error
	if v.state, err = os.ReadFile(filepath.Join(v.stateDir, stateFile)); err != nil {
		t.Fatal(err)
	}
	var b block
	b.object("state", stateFile, v.state)
	v.add(&b)
}

// vecStageNonces seeds the nonces of the stage vector: the stage is not
// an object kind, so a number of its own.
const vecStageNonces = 12

// stageVolume is stateVolume with a fixed clock and nonces, for a stage.
func stageVolume(cfg *Config, k *keys.Volume) *Volume {
	vol := stateVolume(cfg, k, "")
	vol.gens[1].codec = vol.codec
	vol.now = func() time.Time { return vecCreated }
	vol.me = Identity{ID: vecDeviceID}
	return vol
}

// buildStage writes a stage log of one chunk (chunk B) and one change.
func (v *vectors) buildStage(t *testing.T) {
	dir := t.TempDir()
	vol := stageVolume(v.cfg, vecKeys(vecStageNonces))
	s, err := vol.OpenStage(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := s.StoreChunk(vecChunkB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(journal.Entry{Op: journal.Put, Path: "/b.bin", Mode: 0o600, MTime: vecMTime, Size: uint64(len(vecChunkB)), Chunks: []journal.ChunkRef{ref}}); err != nil {
		t.Fatal(err)
	}
	if v.stage, err = os.ReadFile(filepath.Join(dir, stageName(1))); err != nil {
		t.Fatal(err)
	}
	var b block
	b.object("stage log", stageName(1), v.stage)
	v.add(&b)
}

func (v *vectors) checkStage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, stageName(1)), v.stage, 0o600); err != nil {
		t.Fatal(err)
	}
	vol := stageVolume(v.cfg, keys.ForVolume(vecVolumeKey))
	vol.tree = Merge(nil, nil)
	if _, err := vol.OpenStage(dir); err != nil {
		t.Fatal(err)
	}
	n := vol.tree.Lookup("/b.bin")
	if n == nil || n.Size != uint64(len(vecChunkB)) || n.Time != journal.MakeHLC(vecCreated) {
		t.Fatalf("the stage vector's change: %+v", n)
	}
	var out bytes.Buffer
	if _, err := vol.WriteTo(context.Background(), n, &out); err != nil || !bytes.Equal(out.Bytes(), vecChunkB) {
		t.Fatalf("the stage vector's chunk: %v", err)
	}
}

// mergeChange is one change of the merge vector: device 1, 2 or 3, time in
// milliseconds after mergeT0, and the number of the change it saw (0: none).
type mergeChange struct {
	dev  byte
	ms   int64
	op   journal.Op
	path string
	base int
}

var mergeT0 = time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC)

var mergeNames = map[byte]string{1: "laptop", 2: "desk/top", 3: "desk/top"}

var mergeChanges = []mergeChange{
	{1, 1000, journal.Put, "/doc.txt", 0},
	{1, 2000, journal.Put, "/doc.txt", 1},
	{2, 3000, journal.Put, "/doc.txt", 1},
	{2, 4000, journal.Put, "/doc.txt", 3},
	{1, 5000, journal.Put, "/notes", 0},
	{2, 6000, journal.Put, "/notes", 5},
	{1, 7000, journal.Delete, "/notes", 5},
	{1, 8000, journal.Put, "/x", 0},
	{2, 9000, journal.Mkdir, "/x", 0},
	{2, 10000, journal.Put, "/y", 0},
	{1, 11000, journal.Put, "/y/z", 0},
	{1, 12000, journal.Put, "/.bashrc", 0},
	{2, 13000, journal.Put, "/.bashrc", 0},
	{1, 14000, journal.Mkdir, "/shared", 0},
	{2, 15000, journal.Mkdir, "/shared", 0},
	{1, 16000, journal.Put, "/a.txt", 0},
	{2, 16001, journal.Put, "/a.txt", 0},
	{3, 16002, journal.Put, "/a.txt", 0},
	{2, 20000, journal.Put, "/t", 0},
	{1, 20000, journal.Put, "/t", 0},
}

// mergeInput returns the changes of the merge vector; change i+1 has size
// i+1, so the output can name it.
func mergeInput() []Change {
	out := make([]Change, len(mergeChanges))
	for i, m := range mergeChanges {
		e := &journal.Entry{Time: journal.MakeHLC(mergeT0.Add(time.Duration(m.ms) * time.Millisecond)), Op: m.op, Path: m.path}
		if m.base > 0 {
			e.Base = out[m.base-1].Version()
		}
		if m.op == journal.Put {
			e.Size = uint64(i + 1)
		}
		out[i] = Change{Device: dvpc.DeviceID{m.dev}, Entry: e}
	}
	return out
}

func (v *vectors) mergeBlock() {
	changes := mergeInput()
	var b block
	for i, m := range mergeChanges {
		base := "-"
		if m.base > 0 {
			base = fmt.Sprintf("c%d", m.base)
		}
		b.line("c%-2d device %02x %-8s %s %-6s %-8s base %s", i+1, m.dev, mergeNames[m.dev],
			changes[i].Time.Time().UTC().Format("15:04:05.000"), m.op, m.path, base)
	}
	b.line("merged tree:")
	byVersion := map[journal.Version]int{}
	for i, c := range changes {
		byVersion[c.Version()] = i + 1
	}
	names := func(d dvpc.DeviceID) string { return mergeNames[d[0]] }
	Merge(changes, names).Walk("/", func(n *Node) error {
		what := fmt.Sprintf("c%d", byVersion[n.Version()])
		if n.Device == (dvpc.DeviceID{}) {
			what = "(implied folder)"
		}
		b.line("%-48s %s", n.Path, what)
		return nil
	})
	v.add(&b)
}

func TestFormatVectors(t *testing.T) {
	v := buildVectors(t)
	if os.Getenv("DVPC_PRINT_VECTORS") != "" {
		for _, b := range v.blocks {
			fmt.Printf("```\n%s```\n\n", b)
		}
	}
	doc, err := os.ReadFile(formatDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range v.blocks {
		if !bytes.Contains(doc, []byte(b)) {
			t.Errorf("%s does not hold this vector (run with DVPC_PRINT_VECTORS=1 to print them all):\n%s", formatDoc, b)
		}
	}
}

func TestFormatVectorsDecode(t *testing.T) {
	v := buildVectors(t)
	t.Run("keys", checkKeys)
	t.Run("account", v.checkAccount)
	t.Run("config", v.checkConfig)
	t.Run("device", v.checkDevice)
	t.Run("key share", v.checkKeyShare)
	t.Run("mirrors", v.checkMirrors)
	t.Run("pack", v.checkPack)
	t.Run("index", v.checkIndex)
	t.Run("segment", v.checkSegment)
	t.Run("state", v.checkState)
	t.Run("stage", v.checkStage)
	t.Run("checkpoint", v.checkCheckpoint)
	t.Run("merge", v.checkMerge)
}

// The keys package derives with the labels the doc gives.
func checkKeys(t *testing.T) {
	p := keys.TestParams()
	seed := keys.Key(argon2.IDKey(vecPassphrase, vecSalt[:], p.Time, p.MemoryKiB, p.Threads, keys.Size))
	s := keys.Stretch(vecPassphrase, vecSalt[:], p)
	if s.Auth != keys.Derive(seed, "dvpc v1 auth") || s.Unwrap != keys.Derive(seed, "dvpc v1 unwrap") {
		t.Error("Stretch does not derive with the labels of the doc")
	}
	if seed := keys.Derive(vecMaster, "dvpc v1 account signing key"); !bytes.Equal(keys.AccountSigningKey(vecMaster).Seed(), seed[:]) {
		t.Error("AccountSigningKey does not derive with the label of the doc")
	}
	k := keys.ForVolume(vecVolumeKey)
	if k.ChunkID != keys.Derive(vecVolumeKey, "dvpc v1 chunk id") || k.Gear != keys.Derive(vecVolumeKey, "dvpc v1 chunker gear") {
		t.Error("ForVolume does not derive the chunk id or gear key with the labels of the doc")
	}
	for label, key := range map[string]*seal.Key{"dvpc v1 data": k.Data, "dvpc v1 meta": k.Meta, "dvpc v1 local state": k.Local} {
		want := seal.NewKey(keys.Derive(vecVolumeKey, label)).SealWithNonce(nil, [seal.NonceSize]byte{}, nil, nil)
		if got := key.SealWithNonce(nil, [seal.NonceSize]byte{}, nil, nil); !bytes.Equal(got, want) {
			t.Errorf("ForVolume does not derive the %q key", label)
		}
	}
}

func (v *vectors) checkAccount(t *testing.T) {
	a, err := keys.ParseAccount(v.account)
	if err != nil {
		t.Fatal(err)
	}
	if a.Params != keys.TestParams() || a.Salt != vecSalt {
		t.Errorf("params %+v, salt %x", a.Params, a.Salt)
	}
	if m, err := a.Unlock(vecPassphrase, vecKeyFile); err != nil || m != vecMaster {
		t.Errorf("unlock = %x, %v; want the master key", m, err)
	}
	if _, err := a.Unlock(vecPassphrase, nil); !errors.Is(err, errors.Permission) {
		t.Errorf("unlock without the key file: err = %v, want Permission", err)
	}
	k := vecAccountKeys()
	m, id, auth, err := a.UnlockRecovery(vecCode)
	if err != nil || m != vecMaster || id != k.codeID || auth != k.codeAuth {
		t.Errorf("recovery: master %x, slot %v, auth %x, %v", m, id, auth, err)
	}
	_, err = keys.ParseAccount(newerVersion(v.account))
	wantVersionError(t, err)
}

func (v *vectors) checkConfig(t *testing.T) {
	c, vk, err := ParseConfig(vecMaster, v.config)
	if err != nil {
		t.Fatal(err)
	}
	if vk != vecVolumeKey || c.ID != vecVolumeID || c.Name != "Documents" || !c.Created.Equal(vecCreated) || c.Chunk != chunk.DefaultParams() {
		t.Errorf("config %+v, key %x", c, vk)
	}
	if len(c.ring) != 2 || c.ring[1] != vecGen2Key {
		t.Errorf("config generations %x, want generation 2's key last", c.ring)
	}
	_, _, err = ParseConfig(vecMaster, newerVersion(v.config))
	wantVersionError(t, err)
}

func (v *vectors) checkDevice(t *testing.T) {
	meta := keys.ForVolume(vecVolumeKey).Meta
	d, err := ParseDevice(meta, v.device)
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != v.dev.ID || d.Name != v.dev.Name || !d.Public.Equal(v.dev.Public) || !bytes.Equal(d.X25519, v.dev.X25519) || !d.Created.Equal(v.dev.Created) {
		t.Errorf("device %+v, want %+v", d, v.dev)
	}
	acct := keys.AccountSigningKey(vecMaster).Public().(ed25519.PublicKey)
	if !d.Verify(vecVolumeID, acct) {
		t.Error("device record: the account's signature does not verify")
	}
	if d.Verify(dvpc.VolumeID{}, acct) || d.Verify(vecVolumeID, v.priv.Public().(ed25519.PublicKey)) {
		t.Error("device record verifies for another volume or another key")
	}
	_, err = ParseDevice(meta, newerVersion(v.device))
	wantVersionError(t, err)
}

func (v *vectors) checkKeyShare(t *testing.T) {
	s, err := ParseKeyShare(v.share)
	if err != nil {
		t.Fatal(err)
	}
	if s.Gen != 2 || s.Device != vecDeviceID || s.By != vecDeviceID || !s.Verify(v.dev.Public) {
		t.Errorf("key share %+v does not verify", s)
	}
	if k, err := s.Open(vecVolumeID, keys.DeviceX25519(v.priv)); err != nil || k != vecGen2Key {
		t.Errorf("key share opens to %x, %v; want generation 2's key", k, err)
	}
	if _, err := s.Open(dvpc.VolumeID{}, keys.DeviceX25519(v.priv)); err == nil {
		t.Error("key share opens for another volume")
	}
	_, err = ParseKeyShare(newerVersion(v.share))
	wantVersionError(t, err)
}

func (v *vectors) checkPack(t *testing.T) {
	k := keys.ForVolume(vecVolumeKey)
	es, err := pack.ParseHeader(k.Meta, v.pack, int64(len(v.pack)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(es, v.packEntries) {
		t.Errorf("pack header %+v, want %+v", es, v.packEntries)
	}
	codec := pack.NewCodec(k)
	for i, want := range [][]byte{vecChunkA, vecChunkB} {
		e := es[i]
		got, err := codec.Open(nil, e.ID, v.pack[e.Offset:e.Offset+e.Length])
		if err != nil || !bytes.Equal(got, want) || e.Raw != uint32(len(want)) {
			t.Errorf("chunk %d: %q, %v", i, got, err)
		}
	}
	if es[0].ID != v.idA || es[1].ID != v.idB {
		t.Errorf("chunk ids %x %x", es[0].ID, es[1].ID)
	}
	// Only a reader of the whole pack sees its leading header.
	_, err = dvpc.ParseHeader(newerVersion(v.pack), dvpc.KindPack)
	wantVersionError(t, err)
}

func (v *vectors) checkIndex(t *testing.T) {
	meta := keys.ForVolume(vecVolumeKey).Meta
	packs, err := pack.ParseIndex(meta, v.index)
	if err != nil {
		t.Fatal(err)
	}
	want := []pack.PackEntries{{Pack: v.packID, Gen: 1, Entries: v.packEntries}}
	if !reflect.DeepEqual(packs, want) {
		t.Errorf("index %+v, want %+v", packs, want)
	}
	_, err = pack.ParseIndex(meta, newerVersion(v.index))
	wantVersionError(t, err)
}

func (v *vectors) checkSegment(t *testing.T) {
	meta := keys.ForVolume(vecVolumeKey).Meta
	pub := v.priv.Public().(ed25519.PublicKey)
	seg, err := journal.Parse(meta, pub, v.segment)
	if err != nil {
		t.Fatal(err)
	}
	want := &journal.Segment{Device: vecDeviceID, Seq: 1, Entries: v.entries}
	if !reflect.DeepEqual(seg, want) {
		t.Errorf("segment %+v, want %+v", seg, want)
	}
	name := journal.Name(vecDeviceID, 1, dvpc.Hash(v.segment))
	if s, ok := parseSegName(name); !ok || s.dev != vecDeviceID || s.seq != 1 || s.id != dvpc.Hash(v.segment) {
		t.Errorf("segment name %q parses as %+v, %v", name, s, ok)
	}
	_, err = journal.Parse(meta, pub, newerVersion(v.segment))
	wantVersionError(t, err)
}

func (v *vectors) checkState(t *testing.T) {
	vol := stateVolume(v.cfg, keys.ForVolume(vecVolumeKey), v.stateDir)
	if !vol.loadState() {
		t.Fatal("the state vector does not load")
	}
	l := vol.logs[vecDeviceID]
	if l == nil || l.seq != 1 || l.last != dvpc.Hash(v.segment) || !reflect.DeepEqual(l.entries, v.entries) {
		t.Fatalf("journal of the state: %+v", l)
	}
	d := vol.devices[vecDeviceID]
	if d == nil || d.Name != v.dev.Name || !d.Public.Equal(v.dev.Public) || !d.Created.Equal(v.dev.Created) {
		t.Errorf("device of the state: %+v", d)
	}
	if loc, ok := vol.index.Lookup(v.idB); !ok || loc.Pack != v.packID || !vol.indexes[v.indexID] {
		t.Errorf("index of the state: %+v, %v, %v", loc, ok, vol.indexes)
	}
	if vol.clock != v.entries[len(v.entries)-1].Time {
		t.Errorf("clock %x", vol.clock)
	}
	_, err := dvpc.ParseHeader(newerVersion(v.state), dvpc.KindLocal)
	wantVersionError(t, err)
}

// The merge vector holds for any order of arrival.
func (v *vectors) checkMerge(t *testing.T) {
	changes := mergeInput()
	names := func(d dvpc.DeviceID) string { return mergeNames[d[0]] }
	want := dump(Merge(changes, names))
	for i := range changes {
		rotated := append(append([]Change(nil), changes[i:]...), changes[:i]...)
		if got := dump(Merge(rotated, names)); got != want {
			t.Fatalf("rotated by %d:\n%s\nwant\n%s", i, got, want)
		}
	}
}

// newerVersion returns b with the version byte of its header raised to 2.
func newerVersion(b []byte) []byte {
	c := bytes.Clone(b)
	c[4] = dvpc.FormatVersion + 1
	return c
}

func wantVersionError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, errors.Version) {
		t.Errorf("an object of format version %d: err = %v, want a Version error", dvpc.FormatVersion+1, err)
	}
}

// buildCheckpoint seals a checkpoint of the vector segment's tree: the
// volume's positions, its nodes and its index.
func (v *vectors) buildCheckpoint(t *testing.T) {
	vol := stateVolume(v.cfg, vecKeys(dvpc.KindCheckpoint), "")
	changes := make([]Change, len(v.entries))
	for i := range v.entries {
		changes[i] = Change{Device: vecDeviceID, Entry: &v.entries[i]}
	}
	tree := Merge(changes, nil)
	cp := &checkpoint{heads: map[dvpc.DeviceID]head{vecDeviceID: {seq: 1, id: dvpc.Hash(v.segment)}},
		indexes: []dvpc.ObjectID{v.indexID}, packs: []pack.PackEntries{{Pack: v.packID, Gen: 1, Entries: v.packEntries}}}
	for _, p := range tree.Paths() {
		n := tree.Head(p)
		cp.nodes = append(cp.nodes, *n)
		cp.time = max(cp.time, n.Time)
	}
	v.checkpoint = vol.marshalCheckpoint(cp)
	var b block
	b.hex("checkpoint body", cp.encode())
	b.object("checkpoint", volumePrefix(vecVolumeID)+checkpointName(cp.time, dvpc.Hash(v.checkpoint)), v.checkpoint)
	v.add(&b)
}

func (v *vectors) checkCheckpoint(t *testing.T) {
	vol := stateVolume(v.cfg, keys.ForVolume(vecVolumeKey), "")
	cp, err := vol.parseCheckpoint(v.checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if h := cp.heads[vecDeviceID]; h.seq != 1 || h.id != dvpc.Hash(v.segment) || len(cp.indexes) != 1 || len(cp.packs) != 1 {
		t.Errorf("checkpoint %+v", cp)
	}
	changes := make([]Change, len(v.entries))
	for i := range v.entries {
		changes[i] = Change{Device: vecDeviceID, Entry: &v.entries[i]}
	}
	if got, want := dump(MergeFrom(cp.nodes, nil, nil)), dump(Merge(changes, nil)); got != want {
		t.Errorf("tree from the checkpoint:\n%s\nwant:\n%s", got, want)
	}
	_, err = vol.parseCheckpoint(newerVersion(v.checkpoint))
	wantVersionError(t, err)
}
