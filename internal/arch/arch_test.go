package arch

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/dvpc/dvpc/"

// allowed lists, for each package, the packages of this module it may
// import. Standard library and third-party imports are not restricted here.
var allowed = map[string][]string{
	"internal/dvpc":          {},
	"internal/errors":        {"internal/dvpc"},
	"internal/seal":          {"internal/errors"},
	"internal/keys":          {"internal/dvpc", "internal/errors", "internal/seal"},
	"internal/chunk":         {},
	"internal/bufs":          {},
	"internal/blob":          {"internal/errors"},
	"internal/blob/dir":      {"internal/blob", "internal/errors"},
	"internal/blob/mem":      {"internal/blob", "internal/errors"},
	"internal/blob/faulty":   {"internal/blob", "internal/errors"},
	"internal/blob/s3":       {"internal/blob", "internal/errors"},
	"internal/blob/blobtest": {"internal/blob", "internal/errors"},
	"internal/pack":          {"internal/chunk", "internal/dvpc", "internal/errors", "internal/keys", "internal/seal"},
	"internal/journal":       {"internal/dvpc", "internal/errors", "internal/seal"},
	"internal/volume":        {"internal/blob", "internal/bufs", "internal/chunk", "internal/dvpc", "internal/errors", "internal/journal", "internal/keys", "internal/pack", "internal/seal"},
	"internal/totp":          {},
	"internal/server/meta":   {"internal/errors"},
	"internal/server":        {"internal/blob", "internal/blob/dir", "internal/dvpc", "internal/errors", "internal/keys", "internal/server/meta", "internal/totp"},
	"internal/remote":        {"internal/blob", "internal/errors"},
	"internal/replica":       {"internal/blob", "internal/blob/dir", "internal/errors"},
	"internal/cache":         {"internal/dvpc", "internal/errors"},
	"internal/mount":         {"internal/bufs", "internal/errors", "internal/journal", "internal/seal", "internal/volume"},
	"internal/cli":           {"internal/blob", "internal/cache", "internal/seal", "internal/blob/dir", "internal/blob/s3", "internal/mount", "internal/replica", "internal/remote", "internal/server", "internal/totp", "internal/chunk", "internal/dvpc", "internal/errors", "internal/journal", "internal/keys", "internal/volume"},
	"internal/arch":          {},
	"cmd/dvpc":               {"internal/cli"},
}

func TestLayers(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		if strings.HasPrefix(pkg, "bench") || strings.Contains(pkg, "testdata") {
			return nil
		}
		seen[pkg] = true
		ok, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the layer table: add it here and to docs/ARCHITECTURE.md", pkg)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			dep := strings.TrimPrefix(p, module)
			if !contains(ok, dep) {
				t.Errorf("%s imports %s, which its layer may not", path, dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 10 {
		t.Fatalf("found only %d packages: is the test running from internal/arch?", len(seen))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
