package proxy_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/proxy"
)

// BenchmarkEcho pushes 64-byte PUBLISH packets through the proxy to a TCP
// echo server on loopback, 100 in flight, one WebSocket message each: the
// proxy's hot path, for profiling (go test -bench Echo -cpuprofile). The
// client writes each message on its own, or gathers every message the window
// allows into one write.
func BenchmarkEcho(b *testing.B) {
	for _, gathered := range []bool{false, true} {
		name := "one write per message"
		if gathered {
			name = "gathered"
		}
		b.Run(name, func(b *testing.B) { benchEcho(b, gathered) })
	}
}

func benchEcho(b *testing.B, gathered bool) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
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
	srv := proxy.New(proxy.Config{Policy: proxy.Policy{Allow: p, AllowPrivate: true}})
	hs := httptest.NewUnstartedServer(http.HandlerFunc(srv.ServeMQTT))
	host := hs.Listener.Addr().String()
	srv = proxy.New(proxy.Config{Policy: proxy.Policy{Allow: p, AllowPrivate: true}, Hosts: []string{host}})
	hs.Config.Handler = http.HandlerFunc(srv.ServeMQTT)
	hs.Start()
	defer hs.Close()
	ws, _, err := wstest.Dial("ws://"+host+"/mqtt?broker="+ln.Addr().String(), nil, "mqtt")
	if err != nil {
		b.Fatal(err)
	}
	defer ws.CloseNow()
	msg := make([]byte, 64)
	msg[0], msg[1], msg[3] = 0x30, 62, 5
	copy(msg[4:], "bench")
	tokens := make(chan struct{}, 100)
	b.SetBytes(int64(len(msg)))
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
