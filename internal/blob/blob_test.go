package blob_test

import (
	"encoding/hex"
	"io"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

const hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

var nameTests = []struct {
	name  string
	valid bool
}{
	{"a", true},
	{"data/ab/" + hash, true},
	{"A-Z_a.z-0.9", true},
	{"..a", true},
	{"a..b", true},
	{".hidden", true},
	{strings.Repeat("x", blob.MaxElemLen), true},
	{strings.Repeat("x/", blob.MaxNameLen/2-1) + "xx", true},
	{"", false},
	{".", false},
	{"..", false},
	{"../x", false},
	{"a/..", false},
	{"a/../b", false},
	{"a/./b", false},
	{"/abs", false},
	{"a/", false},
	{"a//b", false},
	{"a b", false},
	{"a\x00b", false},
	{`a\b`, false},
	{"é", false},
	{"a:b", false},
	{strings.Repeat("x", blob.MaxElemLen+1), false},
	{strings.Repeat("x/", blob.MaxNameLen/2) + "x", false},
}

func TestValidName(t *testing.T) {
	for _, tt := range nameTests {
		err := blob.ValidName(tt.name)
		if (err == nil) != tt.valid {
			t.Errorf("ValidName(%.40q) = %v, want valid %v", tt.name, err, tt.valid)
		}
		if err != nil && errors.KindOf(err) != errors.Invalid {
			t.Errorf("ValidName(%.40q) = %v, want an Invalid error", tt.name, err)
		}
	}
}

func TestSum(t *testing.T) {
	want, _ := hex.DecodeString(hash)
	tests := []struct {
		name string
		ok   bool
	}{
		{hash, true},
		{"data/" + hash, true},
		{"pack." + hash, true},
		{"x/seg-" + hash, true},
		{"pack_" + hash, false},
		{"x" + hash, false},
		{hash[1:], false},
		{strings.ToUpper(hash), false},
		{hash + "/x", false},
		{hash + ".gz", false},
		{"", false},
		{"/", false},
	}
	for _, tt := range tests {
		sum, ok := blob.Sum(tt.name)
		if ok != tt.ok || ok && string(sum[:]) != string(want) {
			t.Errorf("Sum(%q) = %x, %v; want ok %v", tt.name, sum, ok, tt.ok)
		}
	}
}

// validByRule is ValidName written a second way, from the rules in
// blob.Store's comment.
func validByRule(name string) bool {
	if name == "" || len(name) > blob.MaxNameLen {
		return false
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
		return false
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "." || elem == ".." || len(elem) > blob.MaxElemLen {
			return false
		}
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == ""
}

func FuzzValidName(f *testing.F) {
	for _, tt := range nameTests {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		valid := blob.ValidName(name) == nil
		if valid != validByRule(name) {
			t.Fatalf("ValidName(%q) valid = %v, but the rules say %v", name, valid, !valid)
		}
		if !valid {
			return
		}
		// A valid name cannot escape the folder it is joined to.
		if !filepath.IsLocal(name) || path.Clean(name) != name || path.IsAbs(name) {
			t.Fatalf("ValidName accepts %q, which is not a clean local path", name)
		}
		for _, elem := range strings.Split(name, "/") {
			if elem == "" || elem == "." || elem == ".." {
				t.Fatalf("ValidName accepts %q, with element %q", name, elem)
			}
		}
		for i := 0; i < len(name); i++ {
			if !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", rune(name[i])) {
				t.Fatalf("ValidName accepts %q, with byte %#x", name, name[i])
			}
		}
	})
}

func FuzzSum(f *testing.F) {
	for _, s := range []string{hash, "data/" + hash, "pack-" + hash, "pack_" + hash, strings.ToUpper(hash), "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		sum, ok := blob.Sum(name)
		base := name[strings.LastIndexByte(name, '/')+1:]
		tail := base[max(0, len(base)-64):]
		decoded, err := hex.DecodeString(tail)
		want := len(tail) == 64 && err == nil && strings.ToLower(tail) == tail &&
			(len(base) == 64 || strings.ContainsRune(".-", rune(base[len(base)-65])))
		if ok != want {
			t.Fatalf("Sum(%q) ok = %v, want %v", name, ok, want)
		}
		if ok && string(sum[:]) != string(decoded) {
			t.Fatalf("Sum(%q) = %x, want %x", name, sum, decoded)
		}
		if !ok && sum != [32]byte{} {
			t.Fatalf("Sum(%q) = %x with ok false, want zero", name, sum)
		}
	})
}

// Progress reaches every function the context carries, innermost first.
func TestProgressChains(t *testing.T) {
	var order []string
	ctx := blob.WithProgress(t.Context(), func() { order = append(order, "outer") })
	ctx = blob.WithProgress(ctx, func() { order = append(order, "inner") })
	blob.Progress(ctx)
	r := blob.ProgressReader(ctx, strings.NewReader("abc"))
	if _, err := io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "inner,outer,inner,outer" {
		t.Errorf("progress calls = %s, want inner,outer twice (the call and the read that returned bytes)", got)
	}
	blob.Progress(t.Context()) // none carried: nothing to call
}
