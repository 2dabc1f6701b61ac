package totp

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The SHA-1 rows of RFC 6238, appendix B: 8-digit codes of the ASCII
// secret "12345678901234567890".
func TestRFC6238(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		if got := hotp(secret, Step(time.Unix(v.unix, 0)), 8); got != v.code {
			t.Errorf("T = %d: code %s, want %s", v.unix, got, v.code)
		}
		if got, want := Code(secret, time.Unix(v.unix, 0)), v.code[2:]; got != want {
			t.Errorf("T = %d: 6-digit code %s, want %s", v.unix, got, want)
		}
	}
}

func TestStep(t *testing.T) {
	for unix, want := range map[int64]int64{0: 0, 29: 0, 30: 1, 59: 1, -1: -1, -30: -1, -31: -2} {
		if got := Step(time.Unix(unix, 0)); got != want {
			t.Errorf("Step(%d) = %d, want %d", unix, got, want)
		}
	}
}

func TestVerifyDrift(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_700_000_000, 0)
	s := Step(now)
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{{-90 * time.Second, false}, {-60 * time.Second, false}, {-30 * time.Second, true}, {0, true}, {30 * time.Second, true}, {60 * time.Second, false}} {
		code := Code(secret, now.Add(c.offset))
		step, ok := Verify(secret, code, now, 0)
		if ok != c.ok || ok && step != Step(now.Add(c.offset)) {
			t.Errorf("code from %v away: step %d (now %d), ok %v; want ok %v", c.offset, step, s, ok, c.ok)
		}
	}
	if _, ok := Verify(NewSecret(), Code(secret, now), now, 0); ok {
		t.Error("another secret's code accepted")
	}
	code := Code(secret, now)
	if _, ok := Verify(secret, code[:3]+" "+code[3:], now, 0); !ok {
		t.Error("a code with a space refused")
	}
	for _, bad := range []string{"", code[:5], code + "0", "12345a", "+12345", "١٢٣٤٥٦"} {
		if _, ok := Verify(secret, bad, now, 0); ok {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
	if _, ok := Verify(nil, code, now, 0); ok {
		t.Error("an empty secret accepted a code")
	}
}

func TestVerifyRefusesReplay(t *testing.T) {
	secret := NewSecret()
	now := time.Unix(1_700_000_000, 0)
	step, ok := Verify(secret, Code(secret, now), now, 0)
	if !ok || step != Step(now) {
		t.Fatalf("first use: step %d, ok %v", step, ok)
	}
	if _, ok := Verify(secret, Code(secret, now), now.Add(10*time.Second), step); ok {
		t.Error("the same code accepted twice")
	}
	if _, ok := Verify(secret, Code(secret, now.Add(-30*time.Second)), now, step); ok {
		t.Error("an older step's code accepted after a newer one was used")
	}
	later := now.Add(30 * time.Second)
	if next, ok := Verify(secret, Code(secret, later), later, step); !ok || next != step+1 {
		t.Errorf("the next step's code: step %d, ok %v", next, ok)
	}
}

func TestEncodeDecode(t *testing.T) {
	secret := NewSecret()
	if len(secret) != SecretSize {
		t.Fatalf("secret of %d bytes", len(secret))
	}
	enc := Encode(secret)
	if len(enc) != 32 || strings.ContainsAny(enc, "=") {
		t.Fatalf("Encode = %q", enc)
	}
	spaced := strings.ToLower(enc[:4] + " " + enc[4:8] + "-" + enc[8:])
	for _, in := range []string{enc, spaced} {
		got, err := Decode(in)
		if err != nil || !bytes.Equal(got, secret) {
			t.Errorf("Decode(%q) = %x, %v", in, got, err)
		}
	}
	padded := Encode(secret[:16]) + "======"
	if got, err := Decode(padded); err != nil || !bytes.Equal(got, secret[:16]) {
		t.Errorf("Decode(%q) = %x, %v", padded, got, err)
	}
	for _, bad := range []string{"", "AAAA", Encode(make([]byte, 15)), Encode(make([]byte, 65)), enc[:31] + "1", enc + "!", strings.Repeat("A", 1000)} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%.40q) accepted", bad)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(NewSecret()))
	f.Add("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")
	f.Add("A=======")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			return
		}
		if len(b) < minSecret || len(b) > maxSecret {
			t.Fatalf("Decode(%q): %d bytes", s, len(b))
		}
		if again, err := Decode(Encode(b)); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("Decode(Encode(%x)) = %x, %v", b, again, err)
		}
	})
}

func FuzzVerify(f *testing.F) {
	secret := []byte("12345678901234567890")
	f.Add(secret, "287082", int64(59), int64(0))
	f.Add(secret, "287 082", int64(89), int64(1))
	f.Add([]byte{}, "", int64(-1), int64(-1))
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix, lastStep int64) {
		now := time.Unix(unix, 0)
		step, ok := Verify(secret, code, now, lastStep)
		if !ok {
			return
		}
		if d := step - Step(now); step <= lastStep || d < -1 || d > 1 {
			t.Fatalf("accepted step %d (now %d, last %d)", step, Step(now), lastStep)
		}
		if hotp(secret, step, Digits) != strings.ReplaceAll(code, " ", "") {
			t.Fatalf("accepted %q, the code of step %d is %s", code, step, hotp(secret, step, Digits))
		}
	})
}
