package keys

import (
	"regexp"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/errors"
)

var codeFormat = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$`)

func TestRecoveryCodes(t *testing.T) {
	a, master, _ := NewAccount(pass, NewKeyFile(), TestParams())
	codes, hashes := a.NewRecoveryCodes(master)
	if len(codes) != MaxRecovery || len(hashes) != MaxRecovery || a.RecoveryCount() != MaxRecovery {
		t.Fatalf("%d codes, %d hashes, %d slots", len(codes), len(hashes), a.RecoveryCount())
	}
	a, err := ParseAccount(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[SlotID]bool{}
	for i, c := range codes {
		if !codeFormat.MatchString(c) {
			t.Errorf("code %q is not five groups of five", c)
		}
		got, id, auth, err := a.UnlockRecovery(c) // no key file needed
		if err != nil || got != master {
			t.Fatalf("code %d: %v", i, err)
		}
		if RecoveryHash(auth) != hashes[i] {
			t.Errorf("code %d: the hash for the server is not that of its auth key", i)
		}
		if ra, err := RecoveryAuth(strings.ToLower(c)); err != nil || ra != auth {
			t.Errorf("code %d: RecoveryAuth = %v", i, err)
		}
		if auth == master || ids[id] {
			t.Errorf("code %d: auth key or slot id repeats", i)
		}
		ids[id] = true
	}

	_, used, _, _ := a.UnlockRecovery(codes[3])
	if !a.RemoveRecovery(used) || a.RemoveRecovery(used) {
		t.Fatal("RemoveRecovery did not remove exactly once")
	}
	a, err = ParseAccount(a.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := a.UnlockRecovery(codes[3]); !errors.Is(err, errors.Permission) || !strings.Contains(err.Error(), "used already") {
		t.Errorf("a used code: err = %v, want Permission", err)
	}
	if got, _, _, err := a.UnlockRecovery(codes[4]); err != nil || got != master || a.RecoveryCount() != MaxRecovery-1 {
		t.Errorf("another code after a removal: %v", err)
	}
	if got, err := a.Unlock(pass, nil); err == nil || got == master {
		t.Error("the key file stopped being required")
	}

	fresh, _ := a.NewRecoveryCodes(master)
	if _, _, _, err := a.UnlockRecovery(codes[4]); !errors.Is(err, errors.Permission) {
		t.Errorf("a code of the replaced set: err = %v", err)
	}
	if got, _, _, err := a.UnlockRecovery(fresh[0]); err != nil || got != master || a.RecoveryCount() != MaxRecovery {
		t.Errorf("a fresh code: %v", err)
	}
}

func TestRecoveryCodeOfAnotherAccount(t *testing.T) {
	a, master, _ := NewAccount(pass, nil, TestParams())
	codes, _ := a.NewRecoveryCodes(master)
	b, _, _ := NewAccount(pass, nil, TestParams())
	if _, _, _, err := b.UnlockRecovery(codes[0]); !errors.Is(err, errors.Permission) {
		t.Fatalf("err = %v, want Permission", err)
	}
}

// vectorCode is docs/FORMAT.md's recovery code: its first 21 characters
// count up through the alphabet.
const vectorCode = "01234-56789-ABCDE-FGHJK-MBNGR"

func TestParseRecoveryCode(t *testing.T) {
	const canon = "0123456789ABCDEFGHJKMBNGR"
	if c := newRecoveryCode(); !codeFormat.MatchString(FormatRecoveryCode(c)) {
		t.Fatalf("new code %q", c)
	}
	for _, in := range []string{
		vectorCode, canon, strings.ToLower(vectorCode),
		"01234 56789 abcde fghjk mbngr", " 0123-4567 89-ab cdefghjkmbngr\t",
		"O1234-56789-ABCDE-FGHJK-MBNGR", "o1234-56789-ABCDE-FGHJK-MBNGR",
		"0I234-56789-ABCDE-FGHJK-MBNGR", "0i234-56789-ABCDE-FGHJK-MBNGR",
		"0L234-56789-ABCDE-FGHJK-MBNGR", "0l234-56789-ABCDE-FGHJK-MBNGR",
	} {
		if got, err := ParseRecoveryCode(in); err != nil || got != canon {
			t.Errorf("ParseRecoveryCode(%q) = %q, %v; want %q", in, got, err, canon)
		}
	}
	for in, msg := range map[string]string{
		"":                               "has 25 characters",
		"01234-56789-ABCDE-FGHJK-MBNG":   "not 24",
		"01234-56789-ABCDE-FGHJK-MBNGR4": "not 26",
		"01234-56789-ABCDE-FGHJK-MBNGS":  "typo",
		"01234-56789-ABCDU-FGHJK-MBNGR":  `'U' is not`,
		"01234-56789-ABCDÉ-FGHJK-MBNGR":  `'É' is not`,
		"01234_56789_ABCDE_FGHJK_MBNGR":  `'_' is not`,
		"10234-56789-ABCDE-FGHJK-MBNGR":  "typo",
		strings.Repeat("0", 1<<20):       "not 1048576",
	} {
		if _, err := ParseRecoveryCode(in); !errors.Is(err, errors.Invalid) || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseRecoveryCode(%.40q): err = %v, want Invalid saying %q", in, err, msg)
		}
	}
}

// Every change of one character, and every swap of two neighbours, of the
// vector code is caught as a typo.
func TestRecoveryCodeTypos(t *testing.T) {
	const canon = "0123456789ABCDEFGHJKMBNGR"
	for i := range len(canon) {
		for _, c := range []byte(recoveryAlphabet) {
			if c == canon[i] {
				continue
			}
			typo := canon[:i] + string(c) + canon[i+1:]
			if _, err := ParseRecoveryCode(typo); !errors.Is(err, errors.Invalid) {
				t.Errorf("%s: err = %v, want a typo", typo, err)
			}
		}
		if i+1 < len(canon) {
			swap := canon[:i] + canon[i+1:i+2] + canon[i:i+1] + canon[i+2:]
			if _, err := ParseRecoveryCode(swap); !errors.Is(err, errors.Invalid) {
				t.Errorf("%s: err = %v, want a typo", swap, err)
			}
		}
	}
}

func FuzzParseRecoveryCode(f *testing.F) {
	f.Add(vectorCode)
	f.Add("0123456789abcdefghjkmbngr")
	f.Add("ÉÉ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseRecoveryCode(s)
		if err != nil {
			return
		}
		if again, err := ParseRecoveryCode(FormatRecoveryCode(c)); err != nil || again != c || len(c) != recoveryLen {
			t.Fatalf("%q: canonical %q does not read back: %q, %v", s, c, again, err)
		}
	})
}
