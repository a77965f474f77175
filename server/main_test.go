package main

import (
	"context"
	"os"
	"os/signal"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
)

// childServeEnv, set in a test binary's environment, makes it run
// `lifeline serve` with the arguments in the variable (one per line)
// instead of the tests, until SIGINT: a child process whose memory a test
// can measure alone (see memory_test.go).
const childServeEnv = "LIFELINE_TEST_CHILD_SERVE"

// TestMain fails the package if goroutines started by its tests are still
// running once every test has ended.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childServeEnv); ok {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		if err := run(ctx, append([]string{"serve"}, splitLines(args)...), os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(leakcheck.Main(m))
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, s[:i])
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}
