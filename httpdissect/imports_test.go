package httpdissect

import (
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/importcheck"
)

// TestImports keeps the package out of the heavy standard packages: it is
// compiled into the WebAssembly client that every visitor downloads.
func TestImports(t *testing.T) {
	importcheck.Banned(t, "fmt", "reflect", "encoding/json", "net/http", "time")
}
