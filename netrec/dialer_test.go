package netrec_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// recorder collects entries.
type recorder struct {
	mu sync.Mutex
	es []trace.Entry
}

func (r *recorder) emit(e trace.Entry) {
	r.mu.Lock()
	r.es = append(r.es, e)
	r.mu.Unlock()
}

func (r *recorder) kinds() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k []string
	for _, e := range r.es {
		k = append(k, e.From+">"+e.Kind)
	}
	return strings.Join(k, " ")
}

func newZone(t *testing.T) *embedded.DNS {
	t.Helper()
	z, err := embedded.StartDNS("127.0.0.1:0", embedded.Zone, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}

func newListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestDialRecordsLifecycle(t *testing.T) {
	z := newZone(t)
	z.Set("broker.lifeline.test", netip.MustParseAddr("127.0.0.1"))
	ln := newListener(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	var rec recorder
	d := &netrec.Dialer{Emit: rec.emit, Zone: embedded.Zone, ZoneServer: z.Addr().String(), Nameserver: z.Addr().String(), Conn: "c9"}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, res, err := d.Dial(context.Background(), "broker.lifeline.test:"+port, false)
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if res.Resolved != "dns" || res.Addr.Addr() != netip.MustParseAddr("127.0.0.1") || res.Connect <= 0 {
		t.Errorf("result %+v", res)
	}
	if runtime.GOOS == "linux" && res.RTT <= 0 {
		t.Errorf("no kernel RTT from TCP_INFO: %+v", res)
	}
	peer.Close() // the broker closes: FIN
	buf := make([]byte, 1)
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read after the peer closed succeeded")
	}
	c.Close()
	got := rec.kinds()
	for _, want := range []string{"proxy>dns.query", "dns>dns.response", "proxy>tcp.syn", "broker>tcp.synack",
		"proxy>tcp.ack", "broker>tcp.fin", "proxy>tcp.fin"} {
		if !strings.Contains(got, want) {
			t.Errorf("entries %q lack %s", got, want)
		}
	}
	if !strings.HasSuffix(got, "proxy>tcp.syn broker>tcp.synack proxy>tcp.ack broker>tcp.fin proxy>tcp.fin") {
		t.Errorf("TCP entries out of order: %s", got)
	}
	for _, e := range rec.es {
		if e.Conn != "c9" || e.T < 0 {
			t.Errorf("entry %+v: want conn c9 and t >= 0", e)
		}
		if strings.HasPrefix(e.Kind, "dns.") && len(e.Bytes) < 12 {
			t.Errorf("DNS entry without its message: %+v", e)
		}
	}
}

func TestDialNumericHostsSkipDNS(t *testing.T) {
	ln := newListener(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, h := range []string{"127.0.0.1", "127.1", "2130706433", "localhost", "[::ffff:127.0.0.1]"} {
		t.Run(h, func(t *testing.T) {
			var rec recorder
			d := &netrec.Dialer{Emit: rec.emit, Nameserver: "127.0.0.1:9"} // nothing may be sent to it
			c, res, err := d.Dial(context.Background(), net.JoinHostPort(strings.Trim(h, "[]"), port), false)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if strings.Contains(rec.kinds(), "dns.") {
				t.Fatalf("%s went to DNS: %s", h, rec.kinds())
			}
			if res.Addr.Addr().Unmap() != netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("dialed %v", res.Addr)
			}
		})
	}
}

func TestDialCheckRefuses(t *testing.T) {
	ln := newListener(t)
	refused := errors.New("no")
	var rec recorder
	d := &netrec.Dialer{Emit: rec.emit, Check: func(string, netip.AddrPort) error { return refused }}
	_, _, err := d.Dial(context.Background(), ln.Addr().String(), false)
	var ne *netrec.Error
	if !errors.As(err, &ne) || ne.Stage != netrec.StagePolicy || !errors.Is(err, refused) {
		t.Fatalf("err = %v, want a policy-stage error wrapping the refusal", err)
	}
	if strings.Contains(rec.kinds(), "tcp.") {
		t.Fatalf("a refused address was dialed: %s", rec.kinds())
	}
}

func TestDialConnectionRefused(t *testing.T) {
	ln := newListener(t)
	addr := ln.Addr().String()
	ln.Close()
	var rec recorder
	d := &netrec.Dialer{Emit: rec.emit, Timeout: 2 * time.Second}
	_, _, err := d.Dial(context.Background(), addr, false)
	var ne *netrec.Error
	if !errors.As(err, &ne) || ne.Stage != netrec.StageTCP {
		t.Fatalf("err = %v, want a tcp-stage error", err)
	}
	if got := rec.kinds(); got != "proxy>tcp.syn broker>tcp.rst" {
		t.Fatalf("entries %q, want the SYN and the RST", got)
	}
}

// TestEmitOneAtATime: the A and AAAA lookups run in parallel, yet Emit is
// never entered by two goroutines at once (each call lingers, so overlapping
// calls would be seen).
func TestEmitOneAtATime(t *testing.T) {
	z := newZone(t)
	z.Set("broker.lifeline.test", netip.MustParseAddr("127.0.0.1"))
	ln := newListener(t)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	var (
		mu      sync.Mutex
		inside  int
		overlap int
		calls   int
	)
	d := &netrec.Dialer{Zone: embedded.Zone, ZoneServer: z.Addr().String(), Nameserver: z.Addr().String(),
		Emit: func(trace.Entry) {
			mu.Lock()
			inside++
			calls++
			if inside > 1 {
				overlap++
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
		}}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, _, err := d.Dial(context.Background(), "broker.lifeline.test:"+port, false)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if overlap > 0 {
		t.Errorf("Emit entered by two goroutines at once %d times in %d calls", overlap, calls)
	}
	if calls < 7 { // 2 queries, 2 responses, the handshake
		t.Errorf("%d calls to Emit, want the DNS messages and the handshake", calls)
	}
}
