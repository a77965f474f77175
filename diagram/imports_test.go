//go:build !js

package diagram

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestImports keeps the package out of the heavy standard packages: it is
// compiled into the WebAssembly client that every visitor downloads.
func TestImports(t *testing.T) {
	banned := map[string]bool{"fmt": true, "reflect": true, "encoding/json": true, "net/http": true, "time": true}
	files, _ := filepath.Glob("*.go")
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pf.Imports {
			if p := strings.Trim(imp.Path.Value, `"`); banned[p] {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
