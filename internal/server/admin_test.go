package server

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvpc/dvpc/internal/errors"
)

func TestAdmin(t *testing.T) {
	data := t.TempDir()
	admin, err := OpenAdmin(data)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := t.Context()
	env, auth := envelope("carol's passphrase")
	info, err := admin.CreateAccount(ctx, "carol", env, auth[:])
	if err != nil || info.User != "carol" || !isHexID(info.ID) || info.Used != int64(len(env)) || info.Devices != 0 {
		t.Fatalf("CreateAccount: %+v %v", info, err)
	}
	if _, err := admin.CreateAccount(ctx, "carol", env, auth[:]); !errors.Is(err, errors.Exist) {
		t.Fatalf("a taken name: %v", err)
	}
	for what, args := range map[string][3][]byte{
		"bad name":     {[]byte("Carol"), env, auth[:]},
		"bad envelope": {[]byte("dave"), []byte("junk"), auth[:]},
		"short auth":   {[]byte("dave"), env, auth[:5]},
	} {
		if _, err := admin.CreateAccount(ctx, string(args[0]), args[1], args[2]); !errors.Is(err, errors.Invalid) {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Sign-up is closed, but carol, made by the operator, logs in.
	ts := start(t, Config{Data: data})
	u := ts.newUser("carol")
	u.envelope, u.auth = env, auth
	r := u.login("")
	want(t, "login of an account made by an operator", r, 200, "")
	u.take(r)
	if r := u.get("account"); !bytes.Equal(r.body, env) {
		t.Fatal("the operator's account has not its envelope")
	}
	// Changes by the operator reach the running server at once.
	if err := admin.SetQuota(ctx, "carol", int64(len(env))+10); err != nil {
		t.Fatal(err)
	}
	want(t, "put over a new quota", u.put("volumes/v/x", make([]byte, 11)), 507, codeQuotaExceeded)
	want(t, "put within it", u.put("volumes/v/x", make([]byte, 10)), 204, "")
	if u.info().Used != int64(len(env))+10 {
		t.Fatal("the account route does not count the put at once")
	}
	// The database, which an operator reads, has it after the next flush.
	ts.flushUsage(ctx)
	list, err := admin.Accounts(ctx)
	if err != nil || len(list) != 1 || list[0].Used != int64(len(env))+10 || list[0].Quota != int64(len(env))+10 || list[0].Devices != 1 {
		t.Fatalf("Accounts: %+v %v", list, err)
	}
	// Recount from the disk fixes a count gone wrong.
	if err := ts.db.SetUsed(ctx, u.account, 12345); err != nil {
		t.Fatal(err)
	}
	if n, err := admin.Recount(ctx, "carol"); err != nil || n != int64(len(env))+10 {
		t.Fatalf("Recount: %d %v", n, err)
	}
	if u.info().Used != int64(len(env))+10 {
		t.Fatal("the recount did not reach the server")
	}
	if err := admin.SetQuota(ctx, "nobody", 1); !errors.Is(err, errors.NotExist) {
		t.Fatalf("quota of an unknown user: %v", err)
	}
	if err := admin.SetQuota(ctx, "carol", -1); !errors.Is(err, errors.Invalid) {
		t.Fatalf("a negative quota: %v", err)
	}
	if _, err := admin.Recount(ctx, "nobody"); !errors.Is(err, errors.NotExist) {
		t.Fatalf("recount of an unknown user: %v", err)
	}
	if err := admin.ResetTOTP(ctx, "carol"); err != nil {
		t.Fatal(err)
	}
}

// The reaper deletes a volume whose deletion marker is older than Grace,
// and nothing else.
func TestReaper(t *testing.T) {
	clk := newClock()
	ts := start(t, Config{Signup: true, Now: clk.Now, Grace: 48 * time.Hour})
	u := ts.signup("alice")
	for _, n := range []string{"volumes/v1/volume", "volumes/v1/data/aa/p", "volumes/v2/volume", "volumes/v3/volume", "volumes/v4/volume", "other"} {
		want(t, "put "+n, u.put(n, []byte(n)), 204, "")
	}
	stamp := []byte(clk.Now().UTC().Format(time.RFC3339Nano))
	want(t, "delete v1", u.put("volumes/v1/deleted", stamp), 204, "")
	want(t, "v3's bad marker", u.put("volumes/v3/deleted", []byte("yesterday")), 204, "")
	// A client whose clock is a year behind: the server's time counts.
	old := []byte(clk.Now().AddDate(-1, 0, 0).UTC().Format(time.RFC3339))
	want(t, "delete v4 with an old time", u.put("volumes/v4/deleted", old), 204, "")
	used := u.info().Used
	if err := ts.reap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := names(u.list("prefix=volumes/v1/")); got != "volumes/v1/data/aa/p volumes/v1/deleted volumes/v1/volume" {
		t.Fatalf("reaped within the grace: %s", got)
	}
	if got := names(u.list("prefix=volumes/v4/")); got == "" {
		t.Fatal("a client's old clock shortened the grace")
	}
	clk.advance(49 * time.Hour)
	if err := ts.reap(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := names(u.list("")); got != "account other volumes/v2/volume volumes/v3/deleted volumes/v3/volume" {
		t.Fatalf("after the grace: %s", got)
	}
	gone := int64(len("volumes/v1/volume") + len("volumes/v1/data/aa/p") + len(stamp) + len("volumes/v4/volume") + len(old))
	if a := u.info(); a.Used != used-gone {
		t.Fatalf("used %d after the reap, want %d", a.Used, used-gone)
	}
	if !strings.Contains(ts.logs.String(), "reaped a deleted volume") || !strings.Contains(ts.logs.String(), "not an RFC 3339 time") {
		t.Fatalf("the reaper's log:\n%s", ts.logs)
	}
}

// Used bytes are summed in memory and written once a second; a clean stop
// writes what is pending, so the operator's count is right after it.
func TestUsageFlushedAtStop(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	ts := start(t, Config{Data: data, Signup: true})
	u := ts.signup("erin")
	before := u.info().Used
	for i := range 5 {
		want(t, "put", u.put("volumes/v/"+strconv.Itoa(i), make([]byte, 1000)), 204, "")
	}
	ts.stop()
	admin, err := OpenAdmin(data)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	info, err := admin.Account(ctx, "erin")
	if err != nil || info.Used != before+5000 {
		t.Fatalf("used after a clean stop = %d, %v; want %d", info.Used, err, before+5000)
	}
}
