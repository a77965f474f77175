package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// env is a proxy in front of an embedded broker and DNS zone, all on
// 127.0.0.1 ports picked by the kernel.
type env struct {
	proxy  *proxy.Server
	http   *httptest.Server
	host   string // 127.0.0.1:PORT of the proxy
	broker *embedded.Broker
	dns    *embedded.DNS
}

// newTestEnv starts an env; change modifies the proxy's Config first.
func newTestEnv(t *testing.T, change func(*proxy.Config)) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	emb := testenv.StartEmbedded(t)
	d, b, bap := emb.DNS, emb.Broker, emb.BrokerAddr

	e := &env{broker: b, dns: d}
	mux := http.NewServeMux()
	e.http = httptest.NewUnstartedServer(mux)
	e.host = e.http.Listener.Addr().String()
	cfg := proxy.Config{
		Policy: proxy.Policy{
			Allow:  mustAllow(t, "*:1883,*:8883"),
			Exempt: []netip.AddrPort{netip.AddrPortFrom(bap.Addr().Unmap(), bap.Port())},
			Zone:   embedded.Zone,
		},
		DefaultBroker: embedded.BrokerName + ":" + strconv.Itoa(int(bap.Port())),
		Hosts:         []string{e.host},
		Origins:       []string{"http://" + e.host},
		Zone:          embedded.Zone,
		ZoneServer:    d.Addr().String(),
		Nameserver:    d.Addr().String(), // never the system's resolver in tests
		DialTimeout:   3 * time.Second,
		Broker:        b,
		Log:           log,
	}
	if change != nil {
		change(&cfg)
	}
	e.proxy = proxy.New(cfg)
	mux.HandleFunc("GET /mqtt", e.proxy.ServeMQTT)
	mux.HandleFunc("GET /trace", e.proxy.ServeTrace)
	e.http.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.proxy.Shutdown(ctx); err != nil {
			t.Errorf("proxy shutdown: %v", err)
		}
		e.http.Close()
	})
	return e
}

func mustAllow(t *testing.T, list string) []proxy.Pattern {
	t.Helper()
	p, err := proxy.ParseAllow(list)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// brokerAddr is the embedded broker's host:port.
func (e *env) brokerAddr() string { return e.broker.Addr().String() }

// mqttURL is the proxy's /mqtt URL with the given query.
func (e *env) mqttURL(query string) string {
	u := "ws://" + e.host + "/mqtt"
	if query != "" {
		u += "?" + query
	}
	return u
}

// traceConn is an open /trace channel collecting the entries it receives.
type traceConn struct {
	ws    *wstest.Client
	token string
	mu    sync.Mutex
	got   []trace.Entry
	other []map[string]any
	raw   []string // the other messages as written, keys in their order
	more  chan struct{}
	done  chan struct{}
	err   error // why reading ended, once done
	// dropBytes keeps entries without their bytes, for a test that
	// measures the proxy's heap in this process: the entries this reader
	// keeps are the test's memory, not the proxy's.
	dropBytes atomic.Bool
}

func (e *env) openTrace(t *testing.T) *traceConn {
	t.Helper()
	ws, _, err := wstest.Dial("ws://"+e.host+"/trace", e.origin())
	if err != nil {
		t.Fatal(err)
	}
	var hello struct {
		Type       string  `json:"type"`
		Token      string  `json:"token"`
		ServerTime float64 `json:"serverTime"`
	}
	if err := ws.ReceiveJSON(&hello); err != nil {
		t.Fatal(err)
	}
	if hello.Type != "hello" || len(hello.Token) != 32 {
		t.Fatalf("first /trace message = %+v, want hello with a 32-hex-digit token", hello)
	}
	tc := &traceConn{ws: ws, token: hello.Token, more: make(chan struct{}, 1), done: make(chan struct{})}
	go tc.read()
	t.Cleanup(func() {
		ws.CloseNow()
		<-tc.done
	})
	return tc
}

func (tc *traceConn) read() {
	defer close(tc.done)
	for {
		_, msg, err := tc.ws.Read(context.Background()) // until the cleanup's CloseNow
		if err != nil {
			tc.err = err
			return
		}
		var m struct {
			Type  string       `json:"type"`
			Entry *trace.Entry `json:"entry"`
		}
		if json.Unmarshal(msg, &m) != nil {
			continue
		}
		tc.mu.Lock()
		if m.Type == "entry" && m.Entry != nil {
			if tc.dropBytes.Load() {
				m.Entry.Bytes = nil
			}
			tc.got = append(tc.got, *m.Entry)
		} else {
			var o map[string]any
			json.Unmarshal(msg, &o)
			tc.other = append(tc.other, o)
			tc.raw = append(tc.raw, string(msg))
		}
		tc.mu.Unlock()
		select {
		case tc.more <- struct{}{}:
		default:
		}
	}
}

// waitFor waits until an entry satisfies ok and returns all entries so far.
func (tc *traceConn) waitFor(t *testing.T, what string, ok func(trace.Entry) bool) []trace.Entry {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		tc.mu.Lock()
		got := append([]trace.Entry(nil), tc.got...)
		tc.mu.Unlock()
		for _, e := range got {
			if ok(e) {
				return got
			}
		}
		select {
		case <-tc.more:
		case <-deadline:
			t.Fatalf("no %s in the trace within 5 s; got:\n%s", what, dump(got))
		}
	}
}

func dump(es []trace.Entry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString(strconv.Itoa(e.Seq) + " " + strconv.FormatFloat(e.T, 'f', 3, 64) + " " + e.Conn + " " + e.Kind + " " + e.From + "->" + e.To + " " + e.Summary)
		if e.Error != "" {
			b.WriteString(" ERROR " + e.Error)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// dialWS opens a WebSocket to url as a browser on the proxy's page would.
func (e *env) dialWS(t *testing.T, url string) *wstest.Client {
	t.Helper()
	ws, resp, err := wstest.Dial(url, e.origin(), "mqtt")
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", url, err, status)
	}
	t.Cleanup(func() { ws.CloseNow() })
	return ws
}

// origin is the Origin header of a page the proxy serves.
func (e *env) origin() http.Header { return http.Header{"Origin": {"http://" + e.host}} }

// countingListener is a loopback TCP listener that counts the connections it
// accepts; refusal tests check it stays at zero.
type countingListener struct {
	ln       net.Listener
	accepted atomic.Int32
	wg       sync.WaitGroup
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{ln: ln}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		c.wg.Wait()
	})
	return c
}

func (c *countingListener) port() int { return c.ln.Addr().(*net.TCPAddr).Port }

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

var _ io.Writer = testWriter{}
