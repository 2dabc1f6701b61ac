package cli

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/dvpc/dvpc/internal/keys"
	"github.com/dvpc/dvpc/internal/seal"
)

// seq returns n bytes from first on: first, first+1, ...
func seq(first byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

// nonceFrom is a nonce source for the vectors: the bytes next, next+1, ...
type nonceFrom struct{ next byte }

func (s *nonceFrom) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = s.next
		s.next++
	}
	return len(p), nil
}

// TestLoginVector checks the login vector of docs/FORMAT.md ("The login
// (client)"): the sealed keys of config.json, built from its fixed inputs
// as the document says, appear there verbatim, and the client's own code
// opens them to the fixed keys, with the passphrase and with the PC key.
func TestLoginVector(t *testing.T) {
	c := &clientConfig{Volume: hex.EncodeToString(seq(0x80, 16)), Device: hex.EncodeToString(seq(0x90, 16))}
	pass := []byte("correct horse battery staple")
	var pc keys.Key
	copy(pc[:], seq(0xe0, 32))
	s := keys.Stretch(pass, seq(0x00, 16), keys.TestParams())
	w := keys.Derive(s.Unwrap, "dvpc v1 pc key")
	c.Sealed = &sealedKeys{
		KDF:     keys.TestParams(),
		Salt:    seq(0x00, 16),
		PCKey:   seal.NewKey(w).WithNonces(&nonceFrom{0x10}).Seal(nil, pc[:], pcKeyAD(c)),
		Secrets: seal.NewKey(pc).WithNonces(&nonceFrom{0x30}).Seal(nil, append(seq(0x60, 32), seq(0xa0, 32)...), secretsAD(c)),
	}
	block := fmt.Sprintf("W       %x\npc_key  %x\nkeys    %x\n", w, c.Sealed.PCKey, c.Sealed.Secrets)
	if os.Getenv("DVPC_PRINT_VECTORS") != "" {
		fmt.Print(block)
	}
	doc, err := os.ReadFile("../../docs/FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```\n"+block+"```\n") {
		t.Errorf("docs/FORMAT.md does not hold the login vector; it is now:\n%s", block)
	}
	k, err := unwrapPCKey(c, pass)
	if err != nil || k != pc {
		t.Fatalf("the passphrase opens the PC key: %x, %v", k, err)
	}
	if _, err := unwrapPCKey(c, []byte("wrong")); err == nil {
		t.Fatal("a wrong passphrase opened the PC key")
	}
	if err := openSecrets(c, k); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.VolumeKey, seq(0x60, 32)) || !bytes.Equal(c.DeviceKey, seq(0xa0, 32)) {
		t.Fatalf("the keys opened to %x and %x", c.VolumeKey, c.DeviceKey)
	}
	// The same sealed keys under another device's name do not open.
	other := *c
	other.Device = hex.EncodeToString(seq(0x91, 16))
	if _, err := unwrapPCKey(&other, pass); err == nil {
		t.Fatal("the PC key opened under another device id")
	}
}
