package totp

import (
	"bytes"
	"strings"
	"testing"

	"rsc.io/qr"
)

// The QR code drawn reads back, module by module, as the code rsc.io/qr
// made, inside a light quiet zone; it holds only half blocks.
func TestQR(t *testing.T) {
	text := URI("DVPC", "alice", []byte("12345678901234567890"))
	var out bytes.Buffer
	if err := QR(&out, text); err != nil {
		t.Fatal(err)
	}
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Size + 2*quietZone
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != (n+1)/2 {
		t.Fatalf("%d lines for %d rows of modules, want %d", len(lines), n, (n+1)/2)
	}
	for y, line := range lines {
		runes := []rune(line)
		if len(runes) != n {
			t.Fatalf("line %d has %d characters, want %d", y, len(runes), n)
		}
		for x, r := range runes {
			top, bottom := lightOf(t, r)
			for i, light := range []bool{top, bottom} {
				my := 2*y + i
				if my >= n {
					continue
				}
				inside := x >= quietZone && x < quietZone+c.Size && my >= quietZone && my < quietZone+c.Size
				want := !inside || !c.Black(x-quietZone, my-quietZone)
				if light != want {
					t.Fatalf("module (%d, %d): light %v, want %v", x, my, light, want)
				}
			}
		}
	}
	var again bytes.Buffer
	QR(&again, text)
	if again.String() != out.String() {
		t.Error("QR is not deterministic")
	}
}

// lightOf reads a half block back into its two modules.
func lightOf(t *testing.T, r rune) (top, bottom bool) {
	for ti, row := range halfBlocks {
		for bi, g := range row {
			if g == r {
				return ti == 1, bi == 1
			}
		}
	}
	t.Fatalf("unexpected character %q", r)
	return false, false
}

func TestQRTooLong(t *testing.T) {
	if err := QR(&bytes.Buffer{}, strings.Repeat("x", 4000)); err == nil {
		t.Fatal("QR of 4000 bytes succeeded")
	}
}
