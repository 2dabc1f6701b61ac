package errors

import (
	"fmt"
	"testing"

	"github.com/dvpc/dvpc/internal/dvpc"
)

func TestKinds(t *testing.T) {
	inner := E(Op("pack.Open"), Corrupt, "chunk 1", Str("authentication failed"))
	outer := E(Op("dvpc cat"), "/f.txt", inner)
	if KindOf(outer) != Corrupt {
		t.Fatalf("kind of outer = %v, want the cause's Corrupt", KindOf(outer))
	}
	if got := outer.Error(); got != "dvpc cat: /f.txt: pack.Open: chunk 1: authentication failed" {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("context: %w", outer)
	if !Is(wrapped, Corrupt) || Is(wrapped, NotExist) {
		t.Fatal("Is does not see the kind through fmt.Errorf")
	}
	if KindOf(Str("plain")) != Other || KindOf(nil) != Other {
		t.Fatal("an unclassified error has a kind")
	}
}

func TestHeaderErrorKinds(t *testing.T) {
	_, newer := dvpc.ParseHeader([]byte("DVPC\x09\x01"), dvpc.KindAccount)
	_, bad := dvpc.ParseHeader([]byte("XXXX\x01\x01"), dvpc.KindAccount)
	_, kind := dvpc.ParseHeader([]byte("DVPC\x01\x02"), dvpc.KindAccount)
	if KindOf(E(newer)) != Version || KindOf(E(bad)) != Corrupt || KindOf(E(kind)) != Corrupt {
		t.Fatalf("header kinds: %v %v %v", KindOf(newer), KindOf(bad), KindOf(kind))
	}
}

func TestKindOfJoined(t *testing.T) {
	j := Join(Str("plain"), E(IO, Str("disk full")))
	if KindOf(j) != IO {
		t.Fatalf("kind of a joined error = %v, want IO", KindOf(j))
	}
}
