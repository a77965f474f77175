package codec

import (
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// allowedImports is what the codec's non-test files may import: no fmt, no
// reflect, nothing outside the standard library, to keep the wasm small.
var allowedImports = map[string]bool{
	"errors":       true,
	"math/bits":    true,
	"strconv":      true,
	"strings":      true,
	"unicode/utf8": true,
	"unsafe":       true,
}

func TestImports(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowedImports[path] {
				t.Errorf("%s imports %q, which is not in the codec's allowlist", name, path)
			}
		}
	}
}
