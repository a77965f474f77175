package wsclient

import (
	"os"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "coder/websocket", "wstest")) }
