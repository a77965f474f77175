//go:build !race

// The race detector multiplies memory use (shadow memory), so this test
// measures the process only in a normal build.

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// memoryBudget is what `lifeline serve` with its defaults must stay within,
// whatever its broker's clients do (issue 17).
const memoryBudget = 512 << 20

// TestBrokerMemoryBounded is issue 17's measure for the embedded broker: a
// `lifeline serve` child with the default limits stays under memoryBudget
// (its VmRSS sampled throughout, and its VmHWM, the peak) through three
// floods that took it to gigabytes before the limits: one client
// publishing 650 retained 1 MB messages and leaving; a subscriber that
// reads nothing while 600 QoS 0 messages of 1 MB are published to it; 90
// persistent sessions that left, and 300 QoS 1 messages of 1 MB for each.
// The refusals are said in MQTT terms (PUBACK 0x97 to the v5 retained
// publisher) and counted by reason in /healthz.
func TestBrokerMemoryBounded(t *testing.T) {
	if embedded.DefaultBrokerLimits.Budget() >= memoryBudget {
		t.Fatalf("the broker's default budget %d MiB leaves no room within %d MiB", embedded.DefaultBrokerLimits.Budget()>>20, memoryBudget>>20)
	}
	child := startChild(t, "-listen", "127.0.0.1:0", "-embedded-broker", "127.0.0.1:0")
	broker := child.lines["lifeline: embedded broker "]
	broker = strings.TrimPrefix(broker, "mqtt://")
	t.Logf("idle: %s", child.mem(t))
	payload := make([]byte, 1_000_000)

	flood := func(name string, f func()) {
		peak := child.sample()
		start := time.Now()
		f()
		max := peak()
		t.Logf("%s: %v; peak RSS during it %d MiB; now %s", name, time.Since(start).Round(time.Millisecond), max>>20, child.mem(t))
		if max >= memoryBudget {
			t.Errorf("%s: RSS reached %d MiB, budget %d MiB", name, max>>20, memoryBudget>>20)
		}
	}

	flood("650 retained 1 MB messages, v5 QoS 1", func() {
		c := dialMQTT(t, broker, codec.V5, "retainer", true, "")
		codes := c.publishQoS1(t, 650, func(i int) *codec.Publish {
			return &codec.Publish{QoS: 1, Retain: true, Topic: "flood/retained/" + strconv.Itoa(i), Payload: payload}
		})
		c.Close()
		ok, quota := codes[0x00], codes[0x97]
		t.Logf("PUBACKs: %d success, %d 0x97 Quota exceeded", ok, quota)
		if ok == 0 || quota == 0 || ok+quota != 650 || ok > 68 {
			t.Errorf("PUBACK reason codes %v: want 64 MiB's worth accepted and the rest 0x97", codes)
		}
	})
	flood("a subscriber that reads nothing, 600 QoS 0 messages of 1 MB", func() {
		slow := dialMQTT(t, broker, codec.V311, "slow", true, "flood/slow/#")
		c := dialMQTT(t, broker, codec.V311, "qos0-publisher", true, "")
		for range 600 {
			c.write(t, &codec.Publish{Topic: "flood/slow/x", Payload: payload})
		}
		c.ping(t)
		c.Close()
		slow.Close()
	})
	flood("90 persistent sessions that left, 300 QoS 1 messages of 1 MB", func() {
		for i := range 90 {
			s := dialMQTT(t, broker, codec.V311, "offline-"+strconv.Itoa(i), false, "flood/offline/#")
			s.write(t, &codec.Disconnect{})
			s.Close()
		}
		c := dialMQTT(t, broker, codec.V311, "qos1-publisher", true, "")
		c.publishQoS1(t, 300, func(int) *codec.Publish {
			return &codec.Publish{QoS: 1, Topic: "flood/offline/x", Payload: payload}
		})
		c.Close()
	})

	_, h := getHealth(t, strings.TrimSuffix(child.lines["lifeline: serving "], "/"))
	if h.Broker == nil {
		t.Fatal("no broker in /healthz")
	}
	t.Logf("/healthz broker: %+v", *h.Broker)
	d := h.Broker.Drops
	if d[trace.DropRetainedFull] == 0 {
		t.Errorf("no retained-store refusals counted: %v", d)
	}
	if d[trace.DropQueueBytes] == 0 || d[trace.DropBrokerBudget] == 0 {
		t.Errorf("drops %v: want the slow subscriber's (queue bytes) and the offline sessions' (broker budget)", d)
	}
	if q, b := h.Broker.QueuedBytes, embedded.DefaultBrokerLimits.QueueBudget; q > b {
		t.Errorf("queued %d bytes, budget %d", q, b)
	}
	if r, b := h.Broker.RetainedBytes, embedded.DefaultBrokerLimits.RetainedBytes; r > b || r == 0 {
		t.Errorf("retained %d bytes, budget %d", r, b)
	}
	if hwm := child.status(t)["VmHWM"]; hwm >= memoryBudget {
		t.Errorf("peak RSS (VmHWM) %d MiB, budget %d MiB", hwm>>20, memoryBudget>>20)
	}
}

// child is a `lifeline serve` running in a child process (this test
// binary, see childServeEnv).
type child struct {
	pid   int
	lines map[string]string
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childServeEnv+"="+strings.Join(args, "\n"), "LIFELINE_LISTEN=")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Log(stderr.String())
		}
	})
	c := &child{pid: cmd.Process.Pid, lines: map[string]string{}}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		for _, p := range []string{"lifeline: serving ", "lifeline: embedded broker "} {
			if v, ok := strings.CutPrefix(line, p); ok {
				c.lines[p] = v
			}
		}
		if strings.HasPrefix(line, "lifeline: embedded DNS zone ") {
			go func() {
				for sc.Scan() {
				}
			}()
			return c
		}
	}
	t.Fatalf("serve printed no address: %s", stderr.String())
	return nil
}

// status reads the child's /proc/PID/status memory lines, in bytes.
func (c *child) status(t *testing.T) map[string]int64 {
	t.Helper()
	m, err := procStatus(c.pid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(k, "Vm") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			m[k] = n << 10
		}
	}
	return m, nil
}

func (c *child) mem(t *testing.T) string {
	m := c.status(t)
	return fmt.Sprintf("RSS %d MiB (peak %d MiB)", m["VmRSS"]>>20, m["VmHWM"]>>20)
}

// sample records the child's largest VmRSS until the returned function is
// called, which returns it.
func (c *child) sample() func() int64 {
	var mu sync.Mutex
	var max int64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := procStatus(c.pid); err == nil {
				mu.Lock()
				max = maxInt(max, m["VmRSS"])
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return max
	}
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// rawMQTT is a minimal MQTT connection for floods.
type rawMQTT struct {
	net.Conn
	v   codec.Version
	r   *bufio.Reader
	buf []byte
}

// dialMQTT connects as id (clean or not), subscribing to filter at QoS 1
// when it is set, and waits for the CONNACK (and SUBACK).
func dialMQTT(t *testing.T, addr string, v codec.Version, id string, clean bool, filter string) *rawMQTT {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawMQTT{Conn: nc, v: v, r: bufio.NewReaderSize(nc, 1<<16)}
	t.Cleanup(func() { nc.Close() })
	c.write(t, &codec.Connect{Version: v, ClientID: id, CleanStart: clean, KeepAlive: 300})
	if p := c.read(t); p[0]>>4 != byte(codec.TypeConnack) || p[len(p)-1] != 0 && v == codec.V311 {
		t.Fatalf("CONNACK % x", p)
	}
	if filter != "" {
		c.write(t, &codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: filter, QoS: 1}}})
		if p := c.read(t); p[0]>>4 != byte(codec.TypeSuback) {
			t.Fatalf("want SUBACK, got % x", p)
		}
	}
	return c
}

func (c *rawMQTT) write(t *testing.T, p interface {
	Append([]byte, codec.Version) ([]byte, error)
}) {
	t.Helper()
	var err error
	if c.buf, err = p.Append(c.buf[:0], c.v); err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(c.buf); err != nil {
		t.Fatal(err)
	}
}

// read returns the next whole packet (up to 60 s).
func (c *rawMQTT) read(t *testing.T) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var hdr []byte
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		hdr = append(hdr, b)
		n, err := codec.PacketLen(hdr, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			p := make([]byte, n)
			copy(p, hdr)
			if _, err := io.ReadFull(c.r, p[len(hdr):]); err != nil {
				t.Fatalf("reading: %v", err)
			}
			return p
		}
	}
}

// ping sends a PINGREQ and waits for the PINGRESP: everything sent before
// has been handled.
func (c *rawMQTT) ping(t *testing.T) {
	t.Helper()
	c.write(t, &codec.Pingreq{})
	for {
		if p := c.read(t); p[0] == 0xd0 {
			return
		}
	}
}

// publishQoS1 publishes n QoS 1 messages, at most 20 unacknowledged (the
// broker's Receive Maximum), and returns the PUBACKs' reason codes counted.
func (c *rawMQTT) publishQoS1(t *testing.T, n int, msg func(i int) *codec.Publish) map[byte]int {
	t.Helper()
	codes := map[byte]int{}
	inflight := 0
	for i := 0; i < n || inflight > 0; {
		if i < n && inflight < 20 {
			p := msg(i)
			p.PacketID = uint16(i%65000 + 1)
			c.write(t, p)
			i++
			inflight++
			continue
		}
		p := c.read(t)
		if p[0]>>4 != byte(codec.TypePuback) {
			continue
		}
		var ack codec.Puback
		if err := ack.Decode(p, c.v); err != nil {
			t.Fatal(err)
		}
		codes[byte(ack.ReasonCode)]++
		inflight--
	}
	return codes
}
