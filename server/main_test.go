package main

import (
	"os"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
)

// TestMain fails the package if goroutines started by its tests are still
// running once every test has ended.
func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m)) }
