package totp

import (
	"fmt"
	"io"
	"strings"

	"rsc.io/qr"
)

// quietZone is the light margin around a QR code, in modules, that the
// QR standard asks for.
const quietZone = 4

// halfBlocks draws two modules stacked in one character cell, indexed by
// whether the top and the bottom module are light: the glyph paints the
// light modules in the terminal's text colour.
var halfBlocks = [2][2]rune{
	{' ', '▄'}, // top dark: bottom dark, bottom light
	{'▀', '█'}, // top light: bottom dark, bottom light
}

// QR writes text as a QR code (error correction level M) for a terminal,
// two rows of modules a line, with a quiet zone. It draws the light
// modules, so it reads as dark on light on a terminal with light text on a
// dark background; on a light background it shows inverted, which most
// phone cameras read too.
func QR(w io.Writer, text string) error {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return fmt.Errorf("totp: QR code: %w", err)
	}
	_, err = io.WriteString(w, render(c.Size, c.Black))
	return err
}

// render draws a size×size grid of modules, black(x, y) telling the dark
// ones, with the quiet zone around it.
func render(size int, black func(x, y int) bool) string {
	n := size + 2*quietZone
	light := func(x, y int) int {
		if y >= n || !black(x-quietZone, y-quietZone) {
			return 1
		}
		return 0
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := range n {
			b.WriteRune(halfBlocks[light(x, y)][light(x, y+1)])
		}
		b.WriteByte('\n')
	}
	return b.String()
}
