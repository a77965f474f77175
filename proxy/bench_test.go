package proxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wasm/pagejson"
)

// BenchmarkEcho pushes 64-byte PUBLISH packets through the proxy to a TCP
// echo server on loopback: the proxy's hot path, for profiling (go test
// -bench Echo -benchmem -cpuprofile). Untraced, and traced as the page runs
// it (a /trace channel read to the end, so every packet is also copied,
// decoded and sent as an entry). Three ways: 100 in flight with one
// WebSocket message per write, the same with every message the window
// allows gathered into one write, and one round trip at a time (ns/op is
// then the round trip's time).
//
// traced reads the trace in the compact form (/trace?batch=3), as the page
// does; "traced lines" in batch form (batch=1: JSON lines, as other
// readers of batches do); "traced unbatched" a message per WebSocket
// message, as other clients do.
func BenchmarkEcho(b *testing.B) {
	for _, c := range []struct{ name, trace string }{
		{"untraced", ""},
		{"traced", "?batch=3"},
		{"traced lines", "?batch=1"},
		{"traced unbatched", "?"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.Run("one write per message", func(b *testing.B) { benchEcho(b, c.trace, 100, false) })
			b.Run("gathered", func(b *testing.B) { benchEcho(b, c.trace, 100, true) })
			b.Run("round trip", func(b *testing.B) { benchEcho(b, c.trace, 1, false) })
		})
	}
}

// echoProxy starts a TCP echo server and a proxy (/mqtt and /trace) that
// may reach it, both on loopback and stopped with tb; it returns the
// proxy's host:port and the echo server's.
func echoProxy(tb testing.TB) (host, echo string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.CopyBuffer(c, struct{ io.Reader }{c}, make([]byte, 32<<10))
			}()
		}
	}()
	p, _ := proxy.ParseAllow("*:*")
	hs := httptest.NewUnstartedServer(nil)
	host = hs.Listener.Addr().String()
	srv := proxy.New(proxy.Config{Policy: proxy.Policy{Allow: p, AllowPrivate: true}, Hosts: []string{host}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /mqtt", srv.ServeMQTT)
	mux.HandleFunc("GET /trace", srv.ServeTrace)
	hs.Config.Handler = mux
	hs.Start()
	tb.Cleanup(hs.Close)
	return host, ln.Addr().String()
}

// openTraceQuery opens a /trace channel with query ("", "?batch=1" or
// "?batch=3") and returns it and its token, the hello read.
func openTraceQuery(tb testing.TB, host, query string) (*wstest.Client, string) {
	tr, _, err := wstest.Dial("ws://"+host+"/trace"+query, nil)
	if err != nil {
		tb.Fatal(err)
	}
	_, msg, err := tr.Receive()
	if err != nil {
		tb.Fatalf("first /trace message: %v", err)
	}
	if strings.Contains(query, "batch=3") {
		var line []byte
		if err := new(pagejson.Compact).Read(msg, func(b []byte) { line = b }, func(trace.Entry) {}); err != nil || line == nil {
			tb.Fatalf("first /trace message %q: %v, want a line record", msg, err)
		}
		msg = line
	}
	var hello struct{ Type, Token string }
	if err := json.Unmarshal(msg, &hello); err != nil || hello.Type != "hello" {
		tb.Fatalf("first /trace message %q: %v; want hello", msg, err)
	}
	return tr, hello.Token
}

// benchEcho runs one case of BenchmarkEcho; trace is the /trace query
// ("" for no trace channel).
func benchEcho(b *testing.B, trace string, inflight int, gathered bool) {
	host, echo := echoProxy(b)
	query := ""
	if trace != "" {
		tr, token := openTraceQuery(b, host, strings.TrimSuffix(trace, "?"))
		defer tr.CloseNow()
		query = "&trace=" + token
		go func() { // read to the end, as the page does
			for {
				_, r, err := tr.Reader(context.Background())
				if err != nil {
					return
				}
				io.Copy(io.Discard, r)
			}
		}()
	}
	ws, _, err := wstest.Dial("ws://"+host+"/mqtt?broker="+echo+query, nil, "mqtt")
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	msg := make([]byte, 64)
	msg[0], msg[1], msg[3] = 0x30, 62, 5
	copy(msg[4:], "bench")
	tokens := make(chan struct{}, inflight)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	frame := wstest.ClientFrame(wstest.OpBinary, msg)
	go func() {
		var out []byte
		for i := 0; i < b.N; {
			tokens <- struct{}{}
			k := 1
		more:
			for gathered && i+k < b.N {
				select {
				case tokens <- struct{}{}:
					k++
				default:
					break more
				}
			}
			out = out[:0]
			for range k {
				out = append(out, frame...)
			}
			// The frames go out in one TCP write, which coder's Write
			// does not do: written on the connection under it.
			if _, err := ws.TCP.Write(out); err != nil {
				return
			}
			i += k
		}
	}()
	buf := make([]byte, 64<<10)
	for got := 0; got < b.N*len(msg); {
		_, r, err := ws.Reader(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		for {
			k, err := r.Read(buf)
			before := got / len(msg)
			got += k
			for i := before; i < got/len(msg); i++ {
				<-tokens
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	ws.CloseNow()
}
