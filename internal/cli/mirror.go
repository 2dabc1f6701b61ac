package cli

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/blob/dir"
	"github.com/dvpc/dvpc/internal/blob/s3"
	"github.com/dvpc/dvpc/internal/errors"
	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/remote"
	"github.com/dvpc/dvpc/internal/replica"
	"github.com/dvpc/dvpc/internal/volume"
)

// configMirror is one mirror of the set as this PC keeps it: the volume's
// record of it, and this device's token when it is a server.
type configMirror struct {
	volume.MirrorRecord
	Token string `json:"token,omitempty"`
	// An S3 mirror's credentials when given with flags rather than in the
	// AWS_* variables: this PC's alone, never in the volume.
	S3AccessKey string `json:"s3_access_key,omitempty"`
	S3SecretKey string `json:"s3_secret_key,omitempty"`
}

// isS3 reports whether loc names an S3 bucket.
func isS3(loc string) bool {
	return strings.HasPrefix(loc, "s3://") || strings.HasPrefix(loc, "s3s://")
}

// normLocation makes a location comparable: an absolute, clean path for a
// folder, no trailing slash for a URL.
func normLocation(loc string) string {
	switch {
	case isURL(loc):
		return strings.TrimRight(loc, "/")
	case isS3(loc):
		return loc
	}
	if abs, err := filepath.Abs(loc); err == nil {
		return abs
	}
	return filepath.Clean(loc)
}

// locationID is the id of the mirror a volume was made on, before it had
// a mirror set: the same on every PC.
func locationID(loc string) string {
	h := sha256.Sum256([]byte(normLocation(loc)))
	return hex.EncodeToString(h[:8])
}

func newMirrorID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// mirrors returns the login's mirror set: the one it was made with when
// there is no set yet.
func (c *clientConfig) mirrors() []configMirror {
	if len(c.Mirrors) > 0 {
		return c.Mirrors
	}
	return []configMirror{{MirrorRecord: volume.MirrorRecord{ID: locationID(c.Mirror), Endpoints: []string{c.Mirror},
		User: c.User, Fingerprint: c.Fingerprint, InsecureHTTP: c.InsecureHTTP}, Token: c.Token}}
}

// openEndpoint opens one endpoint of a mirror. One that cannot be opened
// now (a drive unplugged, an S3 store out of reach) is a store that says
// so on every call: the set works around it.
func openEndpoint(ctx context.Context, env *Env, m *configMirror, loc string) blob.Store {
	switch {
	case isURL(loc):
		if m.Token == "" {
			return blob.Unreachable("this PC is not logged in to the server " + loc + ": run 'dvpc mirror login " + loc + "'")
		}
		// A server out of reach fails at once: the set reads from the
		// other mirrors and keeps writes in the outbox, so retrying the
		// connection would only make the user wait.
		cl, err := remote.New(loc, remote.Options{Token: m.Token, Fingerprint: m.Fingerprint, AllowPlainHTTP: m.InsecureHTTP,
			UserAgent: "dvpc/" + Version, FailFast: true})
		if err != nil {
			return blob.Unreachable(err.Error())
		}
		return cl.Store()
	case isS3(loc):
		st, err := openS3(ctx, env, m, loc)
		if err != nil {
			return blob.Unreachable(message(err))
		}
		return st
	}
	st, err := openMirror(loc)
	if err != nil {
		reason := "the mirror folder " + loc + " is missing (is the drive plugged in?)"
		if m.Removable {
			reason = "the removable mirror " + loc + " is not plugged in"
		}
		return blob.Unreachable(reason)
	}
	return st
}

// openS3 opens an S3 mirror with the PC's credentials for it: given at
// add, or from the AWS_* variables.
func openS3(ctx context.Context, env *Env, m *configMirror, loc string) (blob.Store, error) {
	cfg, err := s3.Parse(loc)
	if err != nil {
		return nil, err
	}
	cfg.FromEnv(env.Getenv)
	if m.S3AccessKey != "" {
		cfg.AccessKey, cfg.SecretKey, cfg.SessionToken = m.S3AccessKey, m.S3SecretKey, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s3.Open(ctx, cfg)
}

// openSet opens the login's mirror set, with its outbox in the volume's
// state folder.
func openSet(ctx context.Context, env *Env, c *clientConfig) (*replica.Set, []blob.Store, error) {
	return openSetWith(ctx, env, c, filepath.Join(stateDir(env, c.Volume), "outbox"), false)
}

// openSetWith opens the login's mirror set with the outbox given, or none;
// shared when another process (a mount) owns the outbox.
func openSetWith(ctx context.Context, env *Env, c *clientConfig, outbox string, shared bool) (*replica.Set, []blob.Store, error) {
	var ms []replica.Mirror
	var all []blob.Store
	cms := c.mirrors()
	for i := range cms {
		m := &cms[i]
		rm := replica.Mirror{ID: m.ID, Name: m.Endpoints[0], Removable: m.Removable}
		for _, e := range m.Endpoints {
			st := openEndpoint(ctx, env, m, e)
			all = append(all, st)
			rm.Endpoints = append(rm.Endpoints, replica.Endpoint{Name: e, Store: st})
		}
		ms = append(ms, rm)
	}
	set, err := replica.New(ms, replica.Options{Quorum: c.Quorum, Outbox: outbox, Shared: shared})
	return set, all, err
}

// learnMirrors brings the login's copy of the mirror set up to date with
// the volume's, keeping this device's tokens. It reports whether the set
// changed.
func learnMirrors(c *clientConfig, ms *volume.MirrorSet) bool {
	if ms == nil || ms.Version <= c.MirrorsVersion {
		return false
	}
	old := c.mirrors()
	var next []configMirror
	for _, r := range ms.Mirrors {
		cm := configMirror{MirrorRecord: r}
		// The token of the same mirror, known by id or, for the one this
		// PC logged in to before it knew the set, by address.
		for _, o := range old {
			same := o.ID == r.ID
			for _, e := range r.Endpoints {
				same = same || findMirror([]configMirror{o}, e) >= 0
			}
			if same && o.Token != "" && o.User == r.User {
				cm.Token = o.Token
			}
			if same && o.S3AccessKey != "" {
				cm.S3AccessKey, cm.S3SecretKey = o.S3AccessKey, o.S3SecretKey
			}
		}
		next = append(next, cm)
	}
	c.Mirrors, c.Quorum, c.MirrorsVersion = next, ms.Quorum, ms.Version
	return true
}

// setRecord is the volume's record of the login's set, with q as quorum.
func setRecord(c *clientConfig) *volume.MirrorSet {
	ms := &volume.MirrorSet{Quorum: c.Quorum}
	for _, m := range c.mirrors() {
		ms.Mirrors = append(ms.Mirrors, m.MirrorRecord)
	}
	return ms
}

// findMirror returns the index of the mirror that loc names (any of its
// endpoints, or its id), or -1.
func findMirror(ms []configMirror, loc string) int {
	n := normLocation(loc)
	for i, m := range ms {
		if m.ID == loc {
			return i
		}
		for _, e := range m.Endpoints {
			if normLocation(e) == n {
				return i
			}
		}
	}
	return -1
}

func runMirror(ctx context.Context, env *Env, a *args) error {
	switch a.arg(0, "list") {
	case "list":
		return runMirrorList(ctx, env, a)
	case "add":
		return runMirrorAdd(ctx, env, a)
	case "remove":
		return runMirrorRemove(ctx, env, a)
	case "sync":
		return runMirrorSync(ctx, env, a)
	case "login":
		return runMirrorLogin(ctx, env, a)
	case "quorum":
		return runMirrorQuorum(ctx, env, a)
	}
	return usagef("unknown mirror command %q", a.arg(0, ""))
}

func runMirrorList(ctx context.Context, env *Env, a *args) error {
	if err := a.check(0, 1); err != nil {
		return err
	}
	s, err := open(ctx, env, a.bool("offline"))
	if err != nil {
		return err
	}
	defer s.close()
	return printMirrors(ctx, env, a, s)
}

// mirrorView is what list and status show of a mirror.
type mirrorView struct {
	Location  string        `json:"location"`
	ID        string        `json:"id"`
	Kind      string        `json:"kind"`
	Removable bool          `json:"removable,omitempty"`
	Reachable bool          `json:"reachable"`
	LatencyMS float64       `json:"latency_ms,omitempty"`
	Queued    int           `json:"queued"`
	Lacking   int           `json:"lacking"`
	Endpoints []endpointOut `json:"endpoints"`
}

type endpointOut struct {
	Location  string  `json:"location"`
	Reachable bool    `json:"reachable"`
	LatencyMS float64 `json:"latency_ms,omitempty"`
	Preferred bool    `json:"preferred,omitempty"`
	Error     string  `json:"error,omitempty"`
}

func kindOf(loc string) string {
	switch {
	case isURL(loc):
		return "http"
	case isS3(loc):
		return "s3"
	}
	return "dir"
}

func mirrorViews(ctx context.Context, s *session) []mirrorView {
	var out []mirrorView
	for _, st := range s.set.Status(ctx, "account") {
		v := mirrorView{Location: st.Name, ID: st.ID, Kind: kindOf(st.Name), Removable: st.Removable, Reachable: st.Reachable,
			LatencyMS: ms(st.Latency), Queued: st.Queued, Lacking: len(s.set.Lacking(st.ID, ""))}
		for _, e := range st.Endpoints {
			v.Endpoints = append(v.Endpoints, endpointOut{Location: e.Name, Reachable: e.Reachable, LatencyMS: ms(e.Latency), Preferred: e.Preferred && len(st.Endpoints) > 1, Error: e.Err})
		}
		out = append(out, v)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func printMirrors(ctx context.Context, env *Env, a *args, s *session) error {
	views := mirrorViews(ctx, s)
	if a.bool("json") {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{"quorum": s.set.Quorum(), "mirrors": views})
	}
	fmt.Fprintf(env.Stdout, "%d mirrors; a change is safe once %d hold it\n", len(views), s.set.Quorum())
	printMirrorLines(env.Stdout, views)
	return nil
}

// printMirrorLines writes a line for each mirror, and one for each of its
// endpoints when it has several.
func printMirrorLines(w io.Writer, views []mirrorView) {
	for _, v := range views {
		fmt.Fprintln(w, mirrorLine(v))
		if len(v.Endpoints) > 1 {
			for _, e := range v.Endpoints {
				fmt.Fprintln(w, "    "+endpointLine(e))
			}
		}
	}
}

func mirrorLine(v mirrorView) string {
	state := fmt.Sprintf("reachable, %.1f ms", v.LatencyMS)
	switch {
	case !v.Reachable && v.Removable:
		state = "unplugged"
	case !v.Reachable:
		state = "NOT REACHABLE"
	}
	line := fmt.Sprintf("  %-4s %s  (%s", v.Kind, v.Location, state)
	if v.Removable && v.Reachable {
		line += ", removable"
	}
	if v.Queued > 0 {
		line += fmt.Sprintf(", %d objects waiting for it", v.Queued)
	}
	if v.Lacking > 0 {
		line += fmt.Sprintf(", lacks %d objects others hold", v.Lacking)
	}
	if v.Queued == 0 && v.Lacking == 0 && v.Reachable {
		line += ", up to date"
	}
	return line + ")"
}

func endpointLine(e endpointOut) string {
	s := e.Location
	switch {
	case !e.Reachable:
		s += "  not reachable: " + e.Error
	default:
		s += fmt.Sprintf("  %.1f ms", e.LatencyMS)
	}
	if e.Preferred {
		s += "  (reads go here)"
	}
	return s
}

// runMirrorAdd adds a mirror to the volume's set, and fills it.
func runMirrorAdd(ctx context.Context, env *Env, a *args) error {
	removable := a.bool("removable")
	more := a.flag("endpoint")
	user := a.flag("user")
	accessKey, secretFile := a.flag("s3-access-key"), a.flag("s3-secret-key-file")
	a.accept("fingerprint", "insecure-http", "otp", "key-file")
	if err := a.check(2, 2); err != nil {
		return err
	}
	loc := normLocation(a.arg(1, ""))
	endpoints := []string{loc}
	for _, e := range strings.Split(more, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, normLocation(e))
		}
	}
	for _, e := range endpoints[1:] {
		if kindOf(e) != kindOf(loc) {
			return usagef("the endpoints of one mirror must be of one kind: %s and %s are not", loc, e)
		}
	}
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	c := s.cfg
	cms := c.mirrors()
	for _, e := range endpoints {
		if findMirror(cms, e) >= 0 {
			return errors.E(errors.Exist, e, errors.Str("this location is already a mirror of the volume"))
		}
	}
	m := configMirror{MirrorRecord: volume.MirrorRecord{ID: newMirrorID(), Endpoints: endpoints, Removable: removable}}
	switch kindOf(loc) {
	case "http":
		if user == "" {
			user = c.User
		}
		if user == "" {
			return usagef("give the user name to have on the server with --user NAME")
		}
		if err := joinServer(ctx, env, a, s, &m, user, nil); err != nil {
			return err
		}
	case "dir":
		if err := prepareFolder(loc); err != nil {
			return err
		}
	case "s3":
		if (accessKey == "") != (secretFile == "") {
			return usagef("give both --s3-access-key and --s3-secret-key-file, or neither (then AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are used)")
		}
		if accessKey != "" {
			b, err := os.ReadFile(secretFile)
			if err != nil {
				return errors.E(errors.NotExist, secretFile, err)
			}
			m.S3AccessKey, m.S3SecretKey = accessKey, strings.TrimSpace(string(b))
		}
		st, err := openS3(ctx, env, &m, loc)
		if err != nil {
			return errors.E(loc, err)
		}
		if _, err := st.Stat(ctx, "account"); err != nil && !errors.Is(err, errors.NotExist) {
			return errors.E(loc, err)
		}
	}
	// The set is written to the mirrors the volume has, then to the new
	// one by the fill: a PC that logs on to any of them learns it.
	c.Mirrors = append(cms, m)
	rec := setRecord(c)
	if err := rec.Validate(); err != nil {
		return err
	}
	if err := s.vol.SetMirrors(ctx, rec); err != nil {
		return err
	}
	c.MirrorsVersion = rec.Version
	if err := saveConfig(env, c); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "added mirror %s; copying the volume to it\n", loc)
	// Fill the new mirror from the others, now, with progress. If cut
	// short, 'dvpc mirror sync' (or the next command) goes on.
	rm := replica.Mirror{ID: m.ID, Name: m.Endpoints[0], Removable: m.Removable}
	for _, e := range m.Endpoints {
		rm.Endpoints = append(rm.Endpoints, replica.Endpoint{Name: e, Store: openEndpoint(ctx, env, &m, e)})
	}
	if err := s.set.AddMirror(rm); err != nil {
		return err
	}
	return fill(ctx, env, a, s)
}

// prepareFolder makes sure a folder mirror can be made at loc: it exists
// (it is created if its parent does) and is empty or already holds this
// kind of thing.
func prepareFolder(loc string) error {
	if _, err := openMirror(loc); err == nil {
		return nil
	}
	if _, err := openMirror(filepath.Dir(loc)); err != nil {
		return errors.E(errors.NotExist, loc, errors.Str("neither the folder nor its parent exists (is the drive plugged in?)"))
	}
	_, err := dir.Create(loc)
	return err
}

// joinServer logs this device in to a server that is to be a mirror,
// with the account's passphrase, signing the account up there first if
// it has none. The account envelope there is the same as on the other
// mirrors, so the passphrase (and its recovery codes) work on all.
func joinServer(ctx context.Context, env *Env, a *args, s *session, m *configMirror, user string, pass []byte) error {
	url := m.Endpoints[0]
	var cl *remote.Client
	var err error
	fp := m.Fingerprint
	if m.User != "" {
		// A mirror of the set: its certificate's pin comes with the set.
		cl, err = remote.New(url, remote.Options{Fingerprint: fp, AllowPlainHTTP: m.InsecureHTTP, UserAgent: "dvpc/" + Version})
	} else {
		cl, fp, err = newRemote(ctx, env, a, url)
	}
	if err != nil {
		return err
	}
	acct, err := volume.ReadAccount(ctx, s.set)
	if err != nil {
		return err
	}
	if pass == nil {
		if pass, err = passphrase(env, a, false); err != nil {
			return err
		}
	}
	kf, err := readKeyFile(a, "key-file")
	if err != nil {
		return err
	}
	st := keys.Stretch(pass, acct.Salt[:], acct.Params)
	if _, err := acct.UnlockWith(st.Unwrap, kf); err != nil {
		return err // a wrong passphrase would make an account no one can open
	}
	dev := remote.DeviceRef{ID: s.cfg.Device, Name: s.cfg.DeviceName}
	sess, err := cl.Signup(ctx, &remote.SignupRequest{User: user, Auth: st.Auth[:], Account: acct.Marshal(), Device: dev})
	if remote.Code(err) == remote.CodeExists {
		sess, err = cl.Login(ctx, &remote.LoginRequest{User: user, Auth: st.Auth[:], OTP: a.flag("otp"), Device: dev})
	}
	if err != nil {
		return serverError(err, url, user)
	}
	if m.User == "" {
		m.InsecureHTTP = a.bool("insecure-http")
	}
	m.User, m.Fingerprint, m.Token = user, fp, sess.Token
	return nil
}

// runMirrorLogin logs this PC in to a server of the set that it has no
// token for: one added by another PC.
func runMirrorLogin(ctx context.Context, env *Env, a *args) error {
	a.accept("fingerprint", "insecure-http", "otp", "key-file")
	if err := a.check(2, 2); err != nil {
		return err
	}
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	cms := s.cfg.mirrors()
	i := findMirror(cms, a.arg(1, ""))
	if i < 0 || kindOf(cms[i].Endpoints[0]) != "http" {
		return errors.E(errors.NotExist, a.arg(1, ""), errors.Str("no server of the volume's mirror set has this address: 'dvpc mirror list' shows them"))
	}
	if err := joinServer(ctx, env, a, s, &cms[i], cms[i].User, nil); err != nil {
		return err
	}
	s.cfg.Mirrors = cms
	if err := saveConfig(env, s.cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "logged in to the mirror %s\n", cms[i].Endpoints[0])
	return nil
}

// runMirrorRemove takes a mirror out of the set, once every object is on
// a quorum of the others.
func runMirrorRemove(ctx context.Context, env *Env, a *args) error {
	if err := a.check(2, 2); err != nil {
		return err
	}
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	c := s.cfg
	cms := c.mirrors()
	i := findMirror(cms, a.arg(1, ""))
	if i < 0 {
		return errors.E(errors.NotExist, a.arg(1, ""), errors.Str("not a mirror of this volume: 'dvpc mirror list' shows them"))
	}
	if len(cms) == 1 {
		return errors.E(errors.Invalid, errors.Str("this is the volume's only mirror: add another before removing it"))
	}
	rest := append(append([]configMirror(nil), cms[:i]...), cms[i+1:]...)
	quorum := c.Quorum
	if quorum > len(rest) {
		quorum = len(rest)
	}
	// Bring every mirror up to date, then check that every object is on a
	// quorum of the others: removing a mirror never leaves a change less
	// safe. What the mirror to remove alone holds (the others lost it, or
	// never got it) is copied to them first. One set, with the outbox,
	// does it all; the others are checked through a set of their own
	// without the outbox (two sets must never share one).
	if _, err := s.set.Drain(ctx, nil); err != nil {
		return err
	}
	if _, err := s.set.Check(ctx, replica.CheckOptions{Repair: true}); err != nil {
		return err
	}
	others := *c
	others.Mirrors, others.Quorum = rest, quorum
	set, _, err := openSetWith(ctx, env, &others, "", false)
	if err != nil {
		return err
	}
	rep, err := set.Check(ctx, replica.CheckOptions{Repair: true})
	if err != nil {
		return err
	}
	if len(rep.BelowQuorum) > 0 || len(rep.Unreachable) > 0 {
		return errors.E(errors.Unavailable, errors.Str(fmt.Sprintf(
			"not removed: %d objects would be on fewer than %d of the other mirrors (%d could not be reached); bring them online and try again",
			len(rep.BelowQuorum), set.Quorum(), len(rep.Unreachable))))
	}
	c.Mirrors, c.Quorum = rest, quorum
	rec := setRecord(c)
	if err := s.vol.SetMirrors(ctx, rec); err != nil {
		return err
	}
	c.MirrorsVersion = rec.Version
	if err := saveConfig(env, c); err != nil {
		return err
	}
	// Nothing waits for the mirror any more: the others hold it all.
	if err := s.set.Forget(ctx, cms[i].ID); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "removed mirror %s; its data stays there until you delete it\n", cms[i].Endpoints[0])
	return nil
}

// runMirrorQuorum sets the write quorum.
func runMirrorQuorum(ctx context.Context, env *Env, a *args) error {
	if err := a.check(2, 2); err != nil {
		return err
	}
	var q int
	if _, err := fmt.Sscan(a.arg(1, ""), &q); err != nil || q < 1 {
		return usagef("the quorum is a number of mirrors, 1 or more")
	}
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	if q > len(s.cfg.mirrors()) {
		return errors.E(errors.Invalid, errors.Str(fmt.Sprintf("the volume has %d mirrors: a quorum of %d could never be reached", len(s.cfg.mirrors()), q)))
	}
	s.cfg.Mirrors, s.cfg.Quorum = s.cfg.mirrors(), q
	rec := setRecord(s.cfg)
	if err := s.vol.SetMirrors(ctx, rec); err != nil {
		return err
	}
	s.cfg.MirrorsVersion = rec.Version
	if err := saveConfig(env, s.cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "a change is now safe once %d mirrors hold it\n", q)
	return nil
}

// runMirrorSync delivers what waits for each mirror and copies to each
// what another holds and it lacks.
func runMirrorSync(ctx context.Context, env *Env, a *args) error {
	if err := a.check(1, 1); err != nil {
		return err
	}
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	return fill(ctx, env, a, s)
}

// fill drains the outbox and copies to every reachable mirror what the
// others hold and it lacks, with progress.
func fill(ctx context.Context, env *Env, a *args, s *session) error {
	p := &volume.Progress{}
	pr := startProgressOf(env, a, "sync", "objects", p)
	fn := func(r replica.Progress) {
		p.Files.Store(r.Objects)
		p.TotalFiles.Store(r.TotalObjects)
		p.Bytes.Store(r.Bytes)
		p.TotalBytes.Store(r.TotalBytes)
	}
	dr, err := s.set.Drain(ctx, fn)
	if err != nil {
		pr.stop()
		return interrupted(ctx, err)
	}
	rep, err := s.set.Check(ctx, replica.CheckOptions{Repair: true, Progress: fn})
	pr.stop()
	if err != nil {
		return interrupted(ctx, err)
	}
	s.synced = true
	if a.bool("json") {
		return json.NewEncoder(env.Stdout).Encode(map[string]any{"delivered": dr.Delivered, "copied": rep.Repaired,
			"objects": rep.Objects, "below_quorum": len(rep.BelowQuorum), "unreachable": rep.Unreachable})
	}
	fmt.Fprintf(env.Stdout, "mirrors in sync: %d objects; %d queued and %d missing copies delivered\n", rep.Objects, dr.Delivered, rep.Repaired)
	for _, u := range rep.Unreachable {
		fmt.Fprintf(env.Stderr, "dvpc: not reached, will catch up later: %s\n", u)
	}
	if len(rep.Failed) > 0 {
		return errors.E(errors.Unavailable, errors.Str(fmt.Sprintf("%d copies could not be made (first: %s on %s: %s); run 'dvpc mirror sync' again later",
			len(rep.Failed), rep.Failed[0].Name, rep.Failed[0].Mirror, rep.Failed[0].Damage)))
	}
	return nil
}

func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.E(errors.Other, errors.Str("interrupted: what was copied stays; run 'dvpc mirror sync' to go on"))
	}
	return err
}

// checkSet compares the mirrors of set and, with repair, mends them,
// printing what it found.
func checkSet(ctx context.Context, env *Env, a *args, set *replica.Set, repair, readData bool) (*replica.Report, error) {
	p := &volume.Progress{}
	pr := startProgressOf(env, a, "compare mirrors", "objects", p)
	rep, err := set.Check(ctx, replica.CheckOptions{Repair: repair, ReadData: readData, Progress: func(r replica.Progress) {
		p.Files.Store(r.Objects)
		p.TotalFiles.Store(r.TotalObjects)
		p.Bytes.Store(r.Bytes)
		p.TotalBytes.Store(r.TotalBytes)
	}})
	pr.stop()
	if err != nil {
		return nil, err
	}
	if a.bool("json") {
		// The volume's check prints the JSON; the mirrors' findings go with
		// it only in checkMirrors.
		return rep, nil
	}
	printSetReport(env, rep, repair, set.Quorum())
	return rep, nil
}

func printSetReport(env *Env, rep *replica.Report, repair bool, quorum int) {
	fmt.Fprintf(env.Stdout, "compared the mirrors: %d objects, %d copies missing or damaged", rep.Objects, len(rep.Problems))
	if repair {
		fmt.Fprintf(env.Stdout, ", %d repaired", rep.Repaired)
	}
	fmt.Fprintln(env.Stdout)
	for _, u := range rep.Unreachable {
		fmt.Fprintf(env.Stdout, "NOT CHECKED (not reachable) %s\n", u)
	}
	const show = 20
	for i, pb := range rep.Problems {
		if i == show {
			fmt.Fprintf(env.Stdout, "... and %d more\n", len(rep.Problems)-show)
			break
		}
		fmt.Fprintf(env.Stdout, "%s on %s: %s\n", pb.Name, pb.Mirror, pb.Damage)
	}
	for _, pb := range rep.Failed {
		fmt.Fprintf(env.Stdout, "NOT REPAIRED %s on %s: %s\n", pb.Name, pb.Mirror, pb.Damage)
	}
	for i, n := range rep.BelowQuorum {
		if i == show {
			fmt.Fprintf(env.Stdout, "... and %d more below the quorum\n", len(rep.BelowQuorum)-show)
			break
		}
		fmt.Fprintf(env.Stdout, "BELOW QUORUM (on fewer than %d mirrors) %s\n", quorum, n)
	}
	for _, n := range rep.Differ {
		fmt.Fprintf(env.Stdout, "COPIES DIFFER %s\n", n)
	}
}

// setProblems is the error for what a comparison of the mirrors left
// wrong.
func setProblems(rep *replica.Report, repair bool) error {
	switch {
	case len(rep.Failed) > 0:
		return errors.E(errors.Corrupt, errors.Str(fmt.Sprintf("%d copies could not be repaired (listed above)", len(rep.Failed))))
	case !repair && len(rep.Problems) > 0:
		return errors.E(errors.Corrupt, errors.Str(fmt.Sprintf("%d copies are missing or damaged on some mirror; 'dvpc check --repair' copies good ones over them", len(rep.Problems))))
	case len(rep.BelowQuorum) > 0:
		return errors.E(errors.Unavailable, errors.Str(fmt.Sprintf("%d objects are on fewer mirrors than the quorum (listed above)", len(rep.BelowQuorum))))
	}
	return nil
}

// checkMirrors compares and repairs mirrors given by location, with no
// login and no passphrase: it handles only ciphertext, so a server's
// operator or a scheduled job can run it.
func checkMirrors(ctx context.Context, env *Env, a *args, list, quorum string, repair, readData bool) error {
	var ms []replica.Mirror
	for _, loc := range strings.Split(list, ",") {
		loc = strings.TrimSpace(loc)
		if loc == "" {
			continue
		}
		if isURL(loc) {
			return usagef("a server is checked by its operator on its data folder (DATA/accounts/ID), or from a logged-in PC with 'dvpc check --repair'")
		}
		loc = normLocation(loc)
		st := openEndpoint(ctx, env, &configMirror{}, loc)
		ms = append(ms, replica.Mirror{ID: locationID(loc), Name: loc, Endpoints: []replica.Endpoint{{Name: loc, Store: st}}})
	}
	if len(ms) < 2 {
		return usagef("--mirrors takes two or more locations, separated by commas")
	}
	q := 0
	if quorum != "" {
		if _, err := fmt.Sscan(quorum, &q); err != nil || q < 1 || q > len(ms) {
			return usagef("--quorum is a number of mirrors from 1 to %d", len(ms))
		}
	}
	set, err := replica.New(ms, replica.Options{Quorum: q})
	if err != nil {
		return err
	}
	rep, err := checkSet(ctx, env, a, set, repair, readData)
	if err != nil {
		return err
	}
	if a.bool("json") {
		json.NewEncoder(env.Stdout).Encode(rep)
	}
	if err := setProblems(rep, repair); err != nil {
		return err
	}
	if !a.bool("json") {
		fmt.Fprintln(env.Stdout, "the mirrors agree")
	}
	return nil
}

// adoptMirrors, right after a login, learns the volume's mirror set and
// logs this new device in to the servers among them with the passphrase
// just given, so that every mirror serves it from the first command.
func adoptMirrors(ctx context.Context, env *Env, a *args, pass []byte) error {
	s, err := open(ctx, env, false)
	if err != nil {
		return err
	}
	defer s.close()
	cms := s.cfg.mirrors()
	if len(cms) < 2 {
		return nil
	}
	for i := range cms {
		if kindOf(cms[i].Endpoints[0]) != "http" || cms[i].Token != "" {
			continue
		}
		if err := joinServer(ctx, env, a, s, &cms[i], cms[i].User, pass); err != nil {
			fmt.Fprintf(env.Stderr, "dvpc: could not log in to the mirror %s (%s); 'dvpc mirror login %s' tries again\n", cms[i].Endpoints[0], message(err), cms[i].Endpoints[0])
		}
	}
	s.cfg.Mirrors = cms
	if err := saveConfig(env, s.cfg); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "The volume has %d mirrors; 'dvpc status' shows them.\n", len(cms))
	return nil
}
