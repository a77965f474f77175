// Package importcheck lets a package's tests prove that its non-test files
// stay out of heavy standard packages (fmt, reflect, encoding/json, …): the
// packages compiled into the WebAssembly client are what every visitor
// downloads.
package importcheck

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// Banned fails t for every import of a banned package by a non-test Go file
// in the current directory (the package under test).
func Banned(t *testing.T, banned ...string) {
	t.Helper()
	files, _ := filepath.Glob("*.go")
	if len(files) == 0 {
		t.Fatal("no Go files found")
	}
	ban := map[string]bool{}
	for _, b := range banned {
		ban[b] = true
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
			if p := strings.Trim(imp.Path.Value, `"`); ban[p] {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
