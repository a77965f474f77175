// Command proxy benchmarks Lifeline's WebSocket-to-TCP proxy on loopback
// against Debian's websockify in front of the same echo server, against
// HAProxy relaying TCP to it (the floor any relay in a process of its own
// sits on: two more socket hops per round trip), and against plain TCP to
// it, in one run:
//
//   - throughput: N 64-byte MQTT PUBLISH packets echoed, with 100 in flight;
//   - latency: sequential round trips of one packet, p50, p99 and max;
//     the targets take turns (runs, and blocks of round trips) so that a
//     machine whose speed drifts weighs on all alike;
//   - the goals of issue #18 for lifeline untraced and traced (a /trace
//     reader attached, as the page runs it), each against plain TCP and
//     websockify in this run: msg/s at least 0.8× plain TCP's (one write
//     per message), p50 at most 40 µs above plain TCP's, p99 and max no
//     worse than websockify's. Printed as measures, met or not, with
//     what lifeline adds beside what HAProxy adds (the relay floor);
//   - idle sessions: many concurrent /mqtt sessions held open, and the
//     lifeline process's memory (RSS) per session; then the same as pages
//     (each with a /trace channel read by the page, -traced); then every
//     held session sending one message a second, and lifeline's CPU time
//     per message (-active). Each in a lifeline process of its own.
//
// It starts everything itself (`lifeline serve`, websockify, HAProxy, an echo server
// in a child process), talks to 127.0.0.1 only, and stops by itself.
// Run it with `make bench-proxy`.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
)

func main() {
	var (
		lifeline   = flag.String("lifeline", "bin/lifeline", "the lifeline binary")
		websockify = flag.String("websockify", "websockify", "the websockify command")
		haproxy    = flag.String("haproxy", "haproxy", "the HAProxy command (the TCP relay floor)")
		n          = flag.Int("n", 100000, "messages in the throughput test")
		inflight   = flag.Int("inflight", 100, "messages in flight in the throughput test")
		rtts       = flag.Int("rtt", 10000, "sequential round trips in the latency test")
		idle       = flag.Int("idle", 10000, "idle sessions to hold")
		runs       = flag.Int("runs", 3, "throughput runs per target (the median is reported)")
		traced     = flag.Bool("traced", true, "also hold the idle sessions as pages: each with a /trace channel read to the end")
		active     = flag.Duration("active", 10*time.Second, "then have every held session send one message a second for this long, and measure lifeline's CPU (0: skip)")
		onlyIdle   = flag.Bool("sessions-only", false, "measure only the held sessions (skip throughput and latency)")
		only       = flag.String("targets", "", "measure only these targets, comma-separated (plain TCP, haproxy tcp, lifeline, lifeline traced, websockify, ws echo; default all)")
		echoMode   = flag.Bool("echo", false, "internal: be the echo server")
	)
	flag.Parse()
	if *echoMode {
		serveEcho()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := bench(ctx, *lifeline, *websockify, *haproxy, *n, *inflight, *rtts, *idle, *runs, *only, sessionModes{*traced, *active, *onlyIdle}); err != nil {
		fmt.Fprintln(os.Stderr, "bench-proxy:", err)
		os.Exit(1)
	}
}

// msg is one 64-byte MQTT PUBLISH packet (QoS 0, topic "bench").
var msg = func() []byte {
	b := make([]byte, 64)
	b[0], b[1] = 0x30, 62
	b[2], b[3] = 0, 5
	copy(b[4:], "bench")
	for i := 9; i < 64; i++ {
		b[i] = byte(i)
	}
	return b
}()

// serveEcho echoes every connection on a loopback port and prints it. On a
// second port it echoes WebSocket messages directly (no proxy): the ceiling
// of any WebSocket proxy measured with this client.
func serveEcho() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The echo server stays gorilla's, as it has been measured: it is a
	// server (issue #13 moves the native clients to coder/websocket; every
	// client here is), and its figure is a reference for scale.
	up := gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	go http.Serve(wln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			_, m, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(gorilla.BinaryMessage, m) != nil {
				return
			}
		}
	}))
	fmt.Println("ws", wln.Addr())
	fmt.Println(ln.Addr())
	go func() { // end with the parent
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 32<<10)
			io.CopyBuffer(c, struct{ io.Reader }{c}, buf)
		}()
	}
}

// child starts a command and returns the first line it prints that
// satisfies want.
func child(ctx context.Context, want func(string) (string, bool), name string, args ...string) (*exec.Cmd, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the benchmark
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if _, err := cmd.StdinPipe(); err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if v, ok := want(sc.Text()); ok && !sent {
				found <- v
				sent = true
			}
		}
	}()
	select {
	case v := <-found:
		return cmd, v, nil
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, "", fmt.Errorf("%s printed nothing usable", name)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitListening(addr string) error {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("nothing listens on %s", addr)
}

func stop(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}

// target is one way to reach the echo server.
type target struct {
	name string
	dial func() (conn, error)
}

// conn sends and receives whole messages.
type conn interface {
	// send sends b k times: as k messages (MQTT packets over TCP, binary
	// WebSocket messages) gathered into a single write.
	send(b []byte, k int) error
	recv(p []byte) (int, error) // reads some bytes
	close()
}

// gather holds the bytes of the messages of one send, written at once.
type gather struct {
	net.Conn
	buf      []byte
	gathered bool // after the WebSocket handshake
}

func (g *gather) Write(p []byte) (int, error) {
	if !g.gathered {
		return g.Conn.Write(p)
	}
	g.buf = append(g.buf, p...)
	return len(p), nil
}

func (g *gather) flush() error {
	_, err := g.Conn.Write(g.buf)
	g.buf = g.buf[:0]
	return err
}

type tcpConn struct{ g *gather }

func (c tcpConn) send(b []byte, k int) error {
	for range k {
		c.g.Write(b)
	}
	return c.g.flush()
}
func (c tcpConn) recv(p []byte) (int, error) { return c.g.Read(p) }
func (c tcpConn) close()                     { c.g.Close() }
func dialTCP(addr string) func() (conn, error) {
	return func() (conn, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		return tcpConn{&gather{Conn: c, gathered: true}}, nil
	}
}

type wsConn struct {
	ws *websocket.Conn
	g  *gather
	r  io.Reader
}

// send has coder/websocket frame and mask each message as usual; the frames
// leave in one write, as the k packets of tcpConn.send do.
func (c *wsConn) send(b []byte, k int) error {
	for range k {
		if err := c.ws.Write(context.Background(), websocket.MessageBinary, b); err != nil {
			return err
		}
	}
	return c.g.flush()
}
func (c *wsConn) recv(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.ws.Reader(context.Background())
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}
func (c *wsConn) close() {
	c.g.gathered = false
	c.ws.CloseNow() // as before: the TCP connection ends, no close handshake to wait for
}

// gatherKey carries, in a dial's context, where to put its gather.
type gatherKey struct{}

// wsClient dials for every WebSocket client of the benchmark: each
// connection is a gather, handed back through the request's context.
var wsClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		g := &gather{Conn: c}
		*ctx.Value(gatherKey{}).(**gather) = g
		return g, nil
	}}}

// dialWS dials with github.com/coder/websocket, the client Lifeline uses
// natively (its read and write buffers are its own, 4 KiB pooled, where
// gorilla's were set per dial).
func dialWS(url, origin string, protocols []string) func() (conn, error) {
	return func() (conn, error) {
		var g *gather
		ctx := context.WithValue(context.Background(), gatherKey{}, &g)
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: wsClient, HTTPHeader: h, Subprotocols: protocols})
		if err != nil {
			return nil, err
		}
		ws.SetReadLimit(-1) // the proxy may gather many echoes into one message
		g.gathered = true
		return &wsConn{ws: ws, g: g}, nil
	}
}

// throughput sends n messages with at most inflight unanswered and returns
// messages per second. With batch, each write carries every message the
// window allows at that moment (as a client with a queue of packets would
// write them); without, one message per write.
func throughput(t target, n, inflight int, batch bool) (float64, error) {
	c, err := t.dial()
	if err != nil {
		return 0, err
	}
	defer c.close()
	tokens := make(chan struct{}, inflight)
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		for i := 0; i < n; {
			tokens <- struct{}{}
			k := 1
		more:
			for batch && i+k < n {
				select {
				case tokens <- struct{}{}:
					k++
				default:
					break more
				}
			}
			if err := c.send(msg, k); err != nil {
				errc <- err
				return
			}
			i += k
		}
		errc <- nil
	}()
	buf := make([]byte, 64<<10)
	got := 0
	for got < n*len(msg) {
		k, err := c.recv(buf)
		if err != nil {
			return 0, err
		}
		before := got / len(msg)
		got += k
		for i := before; i < got/len(msg); i++ {
			<-tokens
		}
	}
	elapsed := time.Since(start)
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// latencyBlocks is how many blocks the round trips are measured in, the
// targets taking turns block by block (see latencies).
const latencyBlocks = 20

// latencies makes n sequential round trips on each target and returns
// each target's durations, sorted. The targets take turns, a block of
// n/latencyBlocks round trips each, in an order that rotates from block
// to block, each on a connection of its own held open throughout: a
// machine whose speed drifts (CPUs waking from idle, other load) weighs
// on every target alike. Measured one target after the other, plain TCP,
// first, had a p50 of 56-74 µs in runs where the WebSocket echo, last, had
// 9 µs, which says more of the order than of either.
func latencies(targets []target, n int) (map[string][]time.Duration, error) {
	conns := make([]conn, len(targets))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	for i, t := range targets {
		c, err := t.dial()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.name, err)
		}
		conns[i] = c
	}
	buf := make([]byte, 4096)
	out := map[string][]time.Duration{}
	per := max(1, n/latencyBlocks)
	for b := 0; b < latencyBlocks; b++ {
		for k := range targets {
			i := (b + k) % len(targets)
			c, name := conns[i], targets[i].name
			for range per {
				start := time.Now()
				if err := c.send(msg, 1); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				for got := 0; got < len(msg); {
					k, err := c.recv(buf)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", name, err)
					}
					got += k
				}
				out[name] = append(out[name], time.Since(start))
			}
		}
	}
	for _, ds := range out {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	}
	return out, nil
}

func pct(ds []time.Duration, p float64) time.Duration { return ds[int(float64(len(ds)-1)*p)] }

// rttStats are a target's round-trip times.
type rttStats struct{ p50, p99, max time.Duration }

// goals prints, for lifeline untraced and traced, the ratios issue #18 sets
// bars for, each against plain TCP's and websockify's figures of this run,
// and whether it is met: a measure, not a test.
func goals(rate, gathered map[string]float64, rtt map[string]rttStats) {
	tcp, okTCP := rtt["plain TCP"]
	ha, okHA := rtt["haproxy tcp"]
	wsfy, okWS := rtt["websockify"]
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	us := func(d time.Duration) string { return d.Round(time.Microsecond).String() }
	for _, name := range []string{"lifeline", "lifeline traced"} {
		r, ok := rtt[name]
		if !ok {
			continue
		}
		fmt.Printf("\n%s:\n", name)
		if okTCP {
			x := rate[name] / rate["plain TCP"]
			fmt.Printf("  msg/s ÷ plain TCP:        %.2f× one write per message (bar ≥ 0.80×: %s), %.2f× gathered\n",
				x, met(x >= 0.8), gathered[name]/gathered["plain TCP"])
			added := r.p50 - tcp.p50
			fmt.Printf("  p50 added over plain TCP: %s (bar ≤ 40µs: %s)", us(added), met(added <= 40*time.Microsecond))
			if okHA {
				fmt.Printf("; HAProxy relaying TCP adds %s, lifeline %s more", us(ha.p50-tcp.p50), us(r.p50-ha.p50))
			}
			fmt.Println()
		}
		if okWS {
			fmt.Printf("  p99 vs websockify:        %s vs %s (bar: no worse: %s)\n", us(r.p99), us(wsfy.p99), met(r.p99 <= wsfy.p99))
			fmt.Printf("  max vs websockify:        %s vs %s (bar: no worse: %s)\n", us(r.max), us(wsfy.max), met(r.max <= wsfy.max))
			fmt.Printf("  msg/s ÷ websockify:       %.2f× one write per message, %.2f× gathered\n",
				rate[name]/rate["websockify"], gathered[name]/gathered["websockify"])
		}
	}
}

// loadavg is the machine's load average (1, 5 and 15 minutes): the
// benchmark's figures mean little on a busy machine.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func rssKB(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmRSS")
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// sessionModes are the held-session measures asked for.
type sessionModes struct {
	traced bool
	active time.Duration
	only   bool
}

func bench(ctx context.Context, lifelineBin, websockifyBin, haproxyBin string, n, inflight, rtts, idle, runs int, only string, modes sessionModes) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var wsEcho string
	echo, echoAddr, err := child(ctx, func(s string) (string, bool) {
		if v, ok := strings.CutPrefix(s, "ws "); ok {
			wsEcho = v
		}
		return s, strings.HasPrefix(s, "127.0.0.1:")
	}, self, "-echo")
	if err != nil {
		return err
	}
	defer stop(echo)

	if modes.only {
		return heldSessions(ctx, lifelineBin, echoAddr, idle, modes)
	}
	ll, llURL, err := child(ctx, func(s string) (string, bool) {
		v, ok := strings.CutPrefix(s, "lifeline: serving ")
		return strings.TrimSuffix(v, "/"), ok
	}, lifelineBin, "serve", "-listen", "127.0.0.1:0", "-embedded-broker", "off", "-allow-private", "-allow", "*:*",
		"-max-conns", "100000", "-max-conns-per-ip", "100000", "-log-level", "warn")
	if err != nil {
		return err
	}
	defer stop(ll)
	llHost := strings.TrimPrefix(llURL, "http://")

	wport, err := freePort()
	if err != nil {
		return err
	}
	wsAddr := "127.0.0.1:" + strconv.Itoa(wport)
	wsfy := exec.CommandContext(ctx, websockifyBin, wsAddr, echoAddr)
	wsfy.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := wsfy.Start(); err != nil {
		return fmt.Errorf("websockify: %w (install it: make deps)", err)
	}
	defer stop(wsfy)
	if err := waitListening(wsAddr); err != nil {
		return fmt.Errorf("websockify: %w", err)
	}

	haAddr, haStop, err := startHAProxy(ctx, haproxyBin, echoAddr)
	if err != nil {
		return err
	}
	defer haStop()

	targets := []target{
		{"plain TCP", dialTCP(echoAddr)},
		{"haproxy tcp", dialTCP(haAddr)},
		{"lifeline", dialWS("ws://"+llHost+"/mqtt?broker="+echoAddr, llURL, []string{"mqtt"})},
		{"lifeline traced", dialTraced(llHost, llURL, echoAddr)},
		{"websockify", dialWS("ws://"+wsAddr+"/", "", []string{"binary"})},
		{"ws echo", dialWS("ws://"+wsEcho+"/", "", nil)},
	}
	if only != "" {
		want := map[string]bool{}
		for _, name := range strings.Split(only, ",") {
			want[strings.TrimSpace(name)] = true
		}
		var kept []target
		for _, t := range targets {
			if want[t.name] {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	fmt.Printf("Proxy benchmark on loopback: %d × %d-byte MQTT PUBLISH packets echoed, %d in flight (median of %d runs, the targets taking turns);\n%d sequential round trips per target (in %d blocks, the targets taking turns); %d idle sessions. Load average: %s.\n\n",
		n, len(msg), inflight, runs, rtts, latencyBlocks, idle, loadavg())

	// Throughput both ways of writing, the same for every target: one write
	// per message (as paho and mqtt.js do), and every message the window
	// allows gathered into one write (a client draining its queue).
	rate := map[string]float64{}
	gathered := map[string]float64{}
	rtt := map[string]rttStats{}
	// The targets take turns, run by run, in an order that rotates, as
	// the round trips do (see latencies).
	rates := map[string][]float64{}
	gathers := map[string][]float64{}
	for r := range runs {
		for k := range targets {
			t := targets[(r+k)%len(targets)]
			for _, batch := range []bool{false, true} {
				v, err := throughput(t, n, inflight, batch)
				if err != nil {
					return fmt.Errorf("%s throughput: %w", t.name, err)
				}
				if batch {
					gathers[t.name] = append(gathers[t.name], v)
				} else {
					rates[t.name] = append(rates[t.name], v)
				}
			}
		}
	}
	lat, err := latencies(targets, rtts)
	if err != nil {
		return fmt.Errorf("latency: %w", err)
	}
	fmt.Printf("%-16s %14s %16s %10s %10s %10s\n", "target", "msg/s", "msg/s gathered", "p50 RTT", "p99 RTT", "max RTT")
	for _, t := range targets {
		rate[t.name], gathered[t.name] = median(rates[t.name]), median(gathers[t.name])
		ds := lat[t.name]
		r := rttStats{pct(ds, 0.5), pct(ds, 0.99), ds[len(ds)-1]}
		rtt[t.name] = r
		fmt.Printf("%-16s %14.0f %16.0f %10v %10v %10v\n", t.name, rate[t.name], gathered[t.name],
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.max.Round(time.Microsecond))
	}
	fmt.Println("(msg/s: one write per message; gathered: the messages the window allows in one write, the same for every target)")
	fmt.Println("(haproxy tcp: HAProxy in TCP mode, one thread, relaying to the echo server: the floor of a relay in a process of its own)")
	fmt.Println("(ws echo: a gorilla WebSocket echo server answering message by message, no proxy; for scale)")
	fmt.Printf("load average after: %s\n", loadavg())
	goals(rate, gathered, rtt)

	stop(ll)
	if idle <= 0 {
		return nil
	}
	return heldSessions(ctx, lifelineBin, echoAddr, idle, modes)
}

// heldSessions measures idle sessions (and, with modes.traced, idle pages),
// each in a lifeline process of its own, as many as the open-file limit
// allows up to idle.
func heldSessions(ctx context.Context, lifelineBin, echoAddr string, idle int, modes sessionModes) error {
	tracedModes := []bool{false}
	if modes.traced {
		tracedModes = append(tracedModes, true)
	}
	for _, traced := range tracedModes {
		held := idle
		if max := maxSessions(traced); held > max {
			held = max
			fmt.Printf("\nthe open-file limit allows lifeline %d sessions (%d descriptors each), not %d\n", held, fdsPerSession(traced), idle)
		}
		c, err := measureSessions(ctx, lifelineBin, echoAddr, held, traced, modes.active)
		if err != nil {
			return fmt.Errorf("held sessions (traced %v): %w", traced, err)
		}
		c.report()
	}
	return nil
}

// startHAProxy runs HAProxy relaying TCP from a free loopback port to
// echoAddr, one thread (as lifeline's relay of one session is), and
// returns the port's address and how to stop it.
func startHAProxy(ctx context.Context, bin, echoAddr string) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	dir, err := os.MkdirTemp("", "lifeline-bench-haproxy")
	if err != nil {
		return "", nil, err
	}
	cfg := dir + "/haproxy.cfg"
	conf := "global\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5m\n  timeout server 5m\n" +
		"listen relay\n  bind " + addr + "\n  server echo " + echoAddr + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-db", "-f", cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("haproxy: %w (install it: make deps)", err)
	}
	done := func() { stop(cmd); os.RemoveAll(dir) }
	if err := waitListening(addr); err != nil {
		done()
		return "", nil, fmt.Errorf("haproxy: %w", err)
	}
	return addr, done, nil
}
