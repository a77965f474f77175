// Package testenv holds what Lifeline's tests share about their
// environment: where the repository's test captures are, the programs the
// tests run (tshark, mosquitto, Chromium, found the one way), a launcher for
// Debian's mosquitto on a free loopback port, a bare mochi broker, and the
// embedded broker and DNS zone wired as `lifeline serve` wires them.
//
// A missing program or file fails the test with a message saying what to
// install (`make deps` installs all of it); nothing is skipped.
package testenv

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/lifeline-mqtt/lifeline/embedded"
)

// Root returns the repository's root: the directory holding go.mod, found
// walking up from the test's working directory (its package directory).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testenv: the repository root (go.mod) is not above the test's directory")
		}
		dir = parent
	}
}

// CapturesDir returns testdata/captures at the repository root: the
// captures scripts/make-captures.sh records with real programs, and the
// tshark output they are checked against.
func CapturesDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(Root(t), "testdata", "captures")
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		t.Fatalf("testenv: the test captures are missing at %s (scripts/make-captures.sh records them): %v", d, err)
	}
	return d
}

// Capture returns the path of one capture of testdata/captures, failing the
// test when it is not there.
func Capture(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(CapturesDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("testenv: capture %s is missing (scripts/make-captures.sh records it): %v", name, err)
	}
	return p
}

// Captures returns every pcapng of testdata/captures, sorted by name.
func Captures(t testing.TB) []string {
	t.Helper()
	dir := CapturesDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.pcapng"))
	if err != nil || len(files) == 0 {
		t.Fatalf("testenv: no captures in %s: %v", dir, err)
	}
	return files
}

// packages names the Debian package that brings each program.
var packages = map[string]string{
	"haproxy":       "haproxy",
	"tshark":        "tshark",
	"dumpcap":       "wireshark-common",
	"mosquitto":     "mosquitto",
	"mosquitto_pub": "mosquitto-clients",
	"mosquitto_sub": "mosquitto-clients",
	"chromium":      "chromium",
	"node":          "nodejs",
	"websockify":    "websockify",
}

// Tool returns the path of a program the test needs, looked up in PATH and
// then in /usr/sbin and /sbin (where Debian puts mosquitto, and which a
// non-root PATH lacks). A missing program fails the test.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := LookTool(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// LookTool is Tool for code without a testing.TB (TestMain, benchmarks'
// helpers): the error says what to install.
func LookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	pkg := packages[name]
	if pkg == "" {
		pkg = name
	}
	return "", fmt.Errorf("testenv: %s is not installed: run `make deps` (as root it installs Debian's %s)", name, pkg)
}

// Tshark returns tshark's path; the dissector's and capture import's oracle.
func Tshark(t testing.TB) string { t.Helper(); return Tool(t, "tshark") }

// Chromium returns the headless browser's path.
func Chromium(t testing.TB) string { t.Helper(); return Tool(t, "chromium") }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mosquitto is a running Debian mosquitto.
type Mosquitto struct {
	// Addr is its MQTT listener, "127.0.0.1:PORT".
	Addr string
	// Port is Addr's port.
	Port int
	// Cmd is the process (a test may kill it to lose the broker).
	Cmd *exec.Cmd
	// Dir is the directory of its configuration, readable by the
	// mosquitto user: certificates and password files go there.
	Dir string

	log  *ProcessLog
	done chan struct{}
}

// Log returns what mosquitto wrote so far.
func (m *Mosquitto) Log() string { return m.log.String() }

// Exited is closed once the process has exited.
func (m *Mosquitto) Exited() <-chan struct{} { return m.done }

// MosquittoOptions shape the broker StartMosquitto runs.
type MosquittoOptions struct {
	// Listener is added to the MQTT listener's line (e.g. TLS settings
	// after it), and Extra to the end of the configuration: more
	// listeners, allow_anonymous false, …. allow_anonymous is true unless
	// Extra or Listener says otherwise.
	Listener, Extra string
	// Files are written into Dir before the broker starts (name → content),
	// for Listener and Extra to refer to as {{dir}}/name.
	Files map[string][]byte
	// WaitPorts are more loopback ports (listeners in Extra) to wait for.
	WaitPorts []int
}

// StartMosquitto runs Debian's mosquitto with one MQTT listener on a free
// loopback port, waits until it accepts connections, and stops it when the
// test ends. Its log goes to the test's log. {{dir}} in the options is the
// configuration's directory.
func StartMosquitto(t testing.TB, o MosquittoOptions) *Mosquitto {
	t.Helper()
	m, err := TryMosquitto(t, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TryMosquitto is StartMosquitto that returns an error, and stops the
// process, when mosquitto exits or does not listen within 10 s — e.g. when
// another test took a port of Extra that was free a moment before, so
// the caller may try again with others. A missing mosquitto still fails
// the test.
func TryMosquitto(t testing.TB, o MosquittoOptions) (*Mosquitto, error) {
	t.Helper()
	bin := Tool(t, "mosquitto")
	dir := t.TempDir()
	// mosquitto started as root drops to user mosquitto unless told "user
	// root"; it runs as root here, and the directory is readable anyway.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range o.Files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := FreePort(t)
	expand := func(s string) string { return strings.ReplaceAll(s, "{{dir}}", dir) }
	conf := "user root\npersistence false\nlog_dest stderr\n"
	conf += "listener " + strconv.Itoa(port) + " 127.0.0.1\n" + expand(o.Listener)
	if !strings.HasSuffix(conf, "\n") {
		conf += "\n"
	}
	if !strings.Contains(o.Extra+o.Listener, "allow_anonymous") {
		conf += "allow_anonymous true\n"
	}
	conf += expand(o.Extra) + "\n"
	file := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &Mosquitto{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, Dir: dir, log: NewProcessLog(t), done: make(chan struct{})}
	m.Cmd = exec.Command(bin, "-c", file)
	m.Cmd.Stdout, m.Cmd.Stderr = m.log, m.log
	if err := m.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("testenv: start mosquitto: %w", err)
	}
	go func() {
		m.Cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.Cmd.Process.Kill()
		<-m.done
		m.log.Stop()
	})
	for _, p := range append([]int{port}, o.WaitPorts...) {
		if err := waitListening(p, 10*time.Second, m.done); err != nil {
			m.Cmd.Process.Kill()
			return nil, fmt.Errorf("testenv: mosquitto (%s): %w\n%s", file, err, m.log.String())
		}
	}
	return m, nil
}

// WaitListening waits up to 10 s for a loopback port to accept a
// connection.
func WaitListening(t testing.TB, port int, what string) {
	t.Helper()
	if err := waitListening(port, 10*time.Second, nil); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func waitListening(port int, within time.Duration, exited <-chan struct{}) error {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %w", addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ProcessLog passes a process's output (its Stdout or Stderr) to the
// test's log, and keeps it, until Stop — call it once the test is over:
// logging after that panics.
type ProcessLog struct {
	t    testing.TB
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

// NewProcessLog returns a ProcessLog logging to t.
func NewProcessLog(t testing.TB) *ProcessLog { return &ProcessLog{t: t} }

func (l *ProcessLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// String returns what the process wrote so far.
func (l *ProcessLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Stop ends the logging; the output is still kept.
func (l *ProcessLog) Stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}

// Mochi starts a bare mochi broker (anyone allowed, no Lifeline limits or
// hooks) on 127.0.0.1:0, stopped when the test ends, and returns its
// host:port.
func Mochi(t testing.TB) string {
	t.Helper()
	s := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return l.Address()
}

// Embedded is Lifeline's offline pair as `lifeline serve` wires it: the
// embedded mochi broker and the demo DNS zone answering
// embedded.BrokerName with the broker's address, both on free loopback
// ports and closed when the test ends.
type Embedded struct {
	DNS    *embedded.DNS
	Broker *embedded.Broker
	// BrokerAddr is the broker's listener (IPv4, unmapped).
	BrokerAddr netip.AddrPort
}

// StartEmbedded starts the embedded broker and DNS zone, wired together.
func StartEmbedded(t testing.TB) *Embedded {
	t.Helper()
	d, err := embedded.StartDNS("127.0.0.1:0", embedded.Zone, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	b, err := embedded.StartBroker("127.0.0.1:0", embedded.BrokerLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	bap := b.Addr().AddrPort()
	bap = netip.AddrPortFrom(bap.Addr().Unmap(), bap.Port())
	d.Set(embedded.BrokerName, bap.Addr())
	return &Embedded{DNS: d, Broker: b, BrokerAddr: bap}
}
