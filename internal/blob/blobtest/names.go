package blobtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/blob"
	"github.com/dvpc/dvpc/internal/errors"
)

// invalidNames are names every store must refuse.
var invalidNames = []string{
	"",
	".",
	"..",
	"../x",
	"a/../../x",
	"a/..",
	"/abs",
	"/",
	"a/",
	"a//b",
	"a/./b",
	"./a",
	"a\x00b",
	"a b",
	" a",
	"a\tb",
	"a\nb",
	`a\b`,
	`..\x`,
	"C:x",
	"a:b",
	"a*b",
	"a?b",
	"%2e%2e",
	"é",
	"naïve",
	"日本",
	"a\u202eb",
	"a\xffb",
	strings.Repeat("a", blob.MaxNameLen+1),
	strings.Repeat("a", blob.MaxElemLen+1),
	"d/" + strings.Repeat("a", blob.MaxElemLen+1) + "/x",
	strings.Repeat("a/", blob.MaxNameLen/2) + "a",
}

func testInvalidNames(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, name := range invalidNames {
		q := fmt.Sprintf("%.40q", name)
		checkKind(t, "Put("+q+")", s.Put(ctx, name, []byte("x")), errors.Invalid)
		_, err := s.Get(ctx, name, 0, -1)
		checkKind(t, "Get("+q+")", err, errors.Invalid)
		_, err = s.Stat(ctx, name)
		checkKind(t, "Stat("+q+")", err, errors.Invalid)
		checkKind(t, "Delete("+q+")", s.Delete(ctx, name), errors.Invalid)
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Errorf("after refused Puts, List = %q, want nothing", got)
	}
	// The longest name, made of elements of the longest length.
	long := strings.Repeat("a", blob.MaxElemLen) + "/" +
		strings.Repeat("b", blob.MaxNameLen-blob.MaxElemLen-3) + "/c"
	mustPut(t, s, long, []byte("longest name"))
	checkGet(t, s, long, []byte("longest name"))
}

func testHashWrong(t *testing.T, s blob.Store) {
	data := []byte("the bytes that were sent")
	sum := sha256.Sum256([]byte("the bytes that were promised"))
	hexSum := hex.EncodeToString(sum[:])
	for _, name := range []string{hexSum, "data/" + hexSum, "pack." + hexSum, "x/seg-" + hexSum} {
		err := s.Put(t.Context(), name, data)
		checkKind(t, "Put("+name+") with wrong bytes", err, errors.Corrupt)
		_, err = s.Stat(t.Context(), name)
		checkKind(t, "Stat("+name+") after refused Put", err, errors.NotExist)
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Errorf("after refused Puts, List = %q, want nothing", got)
	}
	// A name that does not promise a hash takes any bytes.
	for _, name := range []string{"x" + hexSum, "pack_" + hexSum, strings.ToUpper(hexSum), hexSum[1:]} {
		mustPut(t, s, name, data)
	}
}

func testHashRight(t *testing.T, s blob.Store) {
	data := []byte("content-addressed")
	name := hashName("data/ab", data)
	mustPut(t, s, name, data)
	mustPut(t, s, name, data)
	checkGet(t, s, name, data)
	sum := sha256.Sum256(data)
	dashed := "packs/pack-" + hex.EncodeToString(sum[:])
	mustPut(t, s, dashed, data)
	// The wrong bytes under a name that is already stored change nothing.
	checkKind(t, "Put over a hash name", s.Put(t.Context(), name, []byte("other")), errors.Corrupt)
	if got := mustGet(t, s, name, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("after a refused Put, Get = %q, want %q", got, data)
	}
}
