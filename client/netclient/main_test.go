package netclient_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if a goroutine of the client, its driver or
// the fake broker outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leaks(); leaked != "" {
			fmt.Fprintln(os.Stderr, "goroutine leak:\n"+leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leaks() string {
	var s string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		s = ""
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "lifeline/client") && !strings.Contains(g, "TestMain") && !strings.Contains(g, "leaks(") {
				s += g + "\n\n"
			}
		}
		if s == "" {
			return ""
		}
	}
	return s
}
