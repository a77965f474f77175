// Package leakcheck finds goroutines that tests left running. Call it from
// TestMain after m.Run:
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Suspects are the stack frames that mark a goroutine as started by the
// code under test (ours, or the libraries it drives).
var Suspects = []string{"lifeline-mqtt/lifeline/", "gorilla/websocket", "mochi-mqtt", "paho.mqtt",
	"net/http.(*conn).serve", "net.(*Resolver)"}

// Main runs the tests and then fails if goroutines are still running after a
// grace period of 10 s. Extra names more stack frames to suspect, for a
// package whose tests drive other code (os/exec, net/http/httptest).
func Main(m *testing.M, extra ...string) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	if leaked := leaked(10*time.Second, append(Suspects[:len(Suspects):len(Suspects)], extra...)); leaked != "" {
		fmt.Fprintln(os.Stderr, "goroutines leaked by the tests:\n"+leaked)
		return 1
	}
	return 0
}

// Leaked waits up to wait for the suspect goroutines to end and returns the
// stacks of those that did not.
func Leaked(wait time.Duration) string { return leaked(wait, Suspects) }

func leaked(wait time.Duration, suspects []string) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "leakcheck.") || strings.Contains(g, "testing.(*M).") {
				continue
			}
			for _, s := range suspects {
				if strings.Contains(g, s) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
