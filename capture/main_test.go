package capture

import (
	"os"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
)

// TestMain fails the package if goroutines the tests started (dumpcap's
// stderr reader, exec's copiers, httptest servers, coder/websocket
// clients) outlive them.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.Main(m, "os/exec.", "net/http/httptest", "coder/websocket"))
}
