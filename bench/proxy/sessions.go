package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// sessionCost is what held sessions cost one lifeline process: memory while
// idle, and CPU while each sends one message a second.
type sessionCost struct {
	held                 int
	traced               bool
	rssBefore, rssIdle   int     // KB
	idleKBPerSession     float64 // (rssIdle - rssBefore) / held
	activeSeconds        float64 // the active window
	cpuSeconds           float64 // lifeline's CPU time in that window
	messages             int     // round trips in that window
	cpuPerMessageMicros  float64
	sessionsPerCoreAt1Hz float64 // sessions one core keeps at one message a second each
}

// measureSessions starts a lifeline of its own (so that nothing measured
// before weighs on its memory), holds n sessions to the echo server, each
// after one round trip, and measures its RSS; with traced each session is
// a page's: a /trace channel (session id, token) read until the end, and a
// /mqtt session on it. Then, for active, every session sends one 64-byte
// PUBLISH a second (echoed back) and lifeline's CPU time is read from
// /proc.
func measureSessions(ctx context.Context, lifelineBin, echoAddr string, n int, traced bool, active time.Duration) (sessionCost, error) {
	c := sessionCost{held: n, traced: traced}
	ll, llURL, err := child(ctx, func(s string) (string, bool) {
		v, ok := strings.CutPrefix(s, "lifeline: serving ")
		return strings.TrimSuffix(v, "/"), ok
	}, lifelineBin, "serve", "-listen", "127.0.0.1:0", "-embedded-broker", "off", "-allow-private", "-allow", "*:*",
		"-max-conns", "100000", "-max-conns-per-ip", "100000", "-log-level", "warn")
	if err != nil {
		return c, err
	}
	defer stop(ll)
	llHost := strings.TrimPrefix(llURL, "http://")
	time.Sleep(time.Second)
	if c.rssBefore, err = rssKB(ll.Process.Pid); err != nil {
		return c, err
	}

	sessions := make([]*heldSession, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 32)
	for i := range sessions {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			hs, err := openHeld(llHost, llURL, echoAddr, traced)
			mu.Lock()
			sessions[i] = hs
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	defer func() {
		for _, hs := range sessions {
			if hs != nil {
				hs.close()
			}
		}
	}()
	if firstErr != nil {
		return c, firstErr
	}
	time.Sleep(2 * time.Second) // let the proxy's buffers settle
	if c.rssIdle, err = rssKB(ll.Process.Pid); err != nil {
		return c, err
	}
	c.idleKBPerSession = float64(c.rssIdle-c.rssBefore) / float64(n)
	if active <= 0 {
		return c, nil
	}

	cpu0, err := cpuSeconds(ll.Process.Pid)
	if err != nil {
		return c, err
	}
	start := time.Now()
	var count sync.WaitGroup
	counts := make([]int, n)
	errs := make(chan error, n)
	for i, hs := range sessions {
		count.Add(1)
		go func() {
			defer count.Done()
			// Spread the sends over the second, as independent devices.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n))
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for time.Since(start) < active {
				if err := hs.roundTrip(); err != nil {
					errs <- err
					return
				}
				counts[i]++
				<-t.C
			}
		}()
	}
	count.Wait()
	c.activeSeconds = time.Since(start).Seconds()
	cpu1, err := cpuSeconds(ll.Process.Pid)
	if err != nil {
		return c, err
	}
	select {
	case err := <-errs:
		return c, fmt.Errorf("active sessions: %w", err)
	default:
	}
	for _, k := range counts {
		c.messages += k
	}
	c.cpuSeconds = cpu1 - cpu0
	c.cpuPerMessageMicros = c.cpuSeconds / float64(c.messages) * 1e6
	// Messages a CPU-second handles, each session sending one a second.
	c.sessionsPerCoreAt1Hz = float64(c.messages) / c.cpuSeconds
	return c, nil
}

// heldSession is one /mqtt session, with its page's /trace channel when
// traced.
type heldSession struct {
	mqtt  conn
	trace *websocket.Conn
	done  chan struct{} // the trace reader ended
}

func openHeld(llHost, llURL, echoAddr string, traced bool) (*heldSession, error) {
	hs := &heldSession{}
	q := "ws://" + llHost + "/mqtt?broker=" + echoAddr
	if traced {
		var b [16]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		ctx := context.Background()
		tr, _, err := websocket.Dial(ctx, "ws://"+llHost+"/trace?batch=3&session="+id,
			&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {llURL}}})
		if err != nil {
			return nil, fmt.Errorf("/trace: %w", err)
		}
		tr.SetReadLimit(-1) // an entry holds a whole packet
		// batch=3, as the page asks: the hello is a binary message of one
		// line record.
		var hello struct{ Type, Token string }
		_, msg, err := tr.Read(ctx)
		if err == nil {
			err = new(pagejson.Compact).Read(msg, func(l []byte) { msg = l }, func(trace.Entry) {})
		}
		if err == nil {
			err = json.Unmarshal(msg, &hello)
		}
		if err != nil || hello.Type != "hello" {
			tr.CloseNow()
			return nil, fmt.Errorf("/trace hello: %+v %v", hello, err)
		}
		hs.trace, hs.done = tr, make(chan struct{})
		go func() { // the page reads every entry
			defer close(hs.done)
			for {
				_, r, err := tr.Reader(ctx)
				if err != nil {
					return
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					return
				}
			}
		}()
		q += "&trace=" + hello.Token + "&session=" + id
	}
	c, err := dialWS(q, llURL, []string{"mqtt"})()
	if err != nil {
		hs.close()
		return nil, err
	}
	hs.mqtt = c
	if err := hs.roundTrip(); err != nil { // the broker connection is up
		hs.close()
		return nil, err
	}
	return hs, nil
}

// dialTraced dials a /mqtt session as the page runs one: with its /trace
// channel open (in the compact form, ?batch=3, as the page asks) and read to the
// end, so the proxy copies, decodes and sends every packet's entry as well
// as relaying it.
func dialTraced(llHost, llURL, echoAddr string) func() (conn, error) {
	return func() (conn, error) {
		hs, err := openHeld(llHost, llURL, echoAddr, true)
		if err != nil {
			return nil, err
		}
		return tracedConn{hs}, nil
	}
}

// tracedConn is a held session used as a benchmark connection.
type tracedConn struct{ *heldSession }

func (c tracedConn) send(b []byte, k int) error { return c.mqtt.send(b, k) }
func (c tracedConn) recv(p []byte) (int, error) { return c.mqtt.recv(p) }
func (c tracedConn) close()                     { c.heldSession.close() }

// roundTrip sends one message and reads its echo.
func (hs *heldSession) roundTrip() error {
	if err := hs.mqtt.send(msg, 1); err != nil {
		return err
	}
	buf := make([]byte, 64)
	for got := 0; got < 64; {
		k, err := hs.mqtt.recv(buf)
		if err != nil {
			return err
		}
		got += k
	}
	return nil
}

func (hs *heldSession) close() {
	if hs.mqtt != nil {
		hs.mqtt.close()
	}
	if hs.trace != nil {
		hs.trace.CloseNow()
		<-hs.done
	}
}

// cpuSeconds is a process's user and system CPU time, from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command (which may hold spaces) in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks, nil
}

// clockTicks is the kernel's USER_HZ, 100 on Linux everywhere.
const clockTicks = 100

// fdsPerSession is how many descriptors lifeline holds for one session:
// the page's WebSocket and the broker's TCP connection, and the trace
// channel's WebSocket when traced.
func fdsPerSession(traced bool) int {
	if traced {
		return 3
	}
	return 2
}

// maxSessions is how many sessions the open-file limit allows lifeline.
func maxSessions(traced bool) int {
	var l syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return (int(l.Cur) - 100) / fdsPerSession(traced)
}

// report prints what held sessions cost and what that makes per GB and per
// core.
func (c sessionCost) report() {
	what := "idle sessions (no trace reader)"
	if c.traced {
		what = "idle pages (a /trace channel read by the page, and its /mqtt session)"
	}
	fmt.Printf("\n%s: %d held; lifeline RSS %d MB -> %d MB: %.1f KB each, %.0f per GiB\n",
		what, c.held, c.rssBefore/1024, c.rssIdle/1024, c.idleKBPerSession, float64(1<<20)/c.idleKBPerSession)
	if c.messages > 0 {
		fmt.Printf("  active, one 64-byte PUBLISH a second each (echoed) for %.0f s: %d round trips, lifeline CPU %.2f s: %.1f µs a round trip, %.0f such sessions per core\n",
			c.activeSeconds, c.messages, c.cpuSeconds, c.cpuPerMessageMicros, c.sessionsPerCoreAt1Hz)
	}
}
