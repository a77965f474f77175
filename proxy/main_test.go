package proxy_test

import (
	"os"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
)

// TestMain fails the package if goroutines started by its tests are still
// running once every test has ended, the coder/websocket clients' too.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "coder/websocket")) }
