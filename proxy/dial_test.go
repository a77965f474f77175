package proxy_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// newFakeDNS serves DNS on a loopback UDP port: answer builds the reply to a
// query, or returns nil to stay silent.
func newFakeDNS(t *testing.T, answer func(h dnsmessage.Header, q dnsmessage.Question) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			if resp := answer(h, q); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		wg.Wait()
	})
	return pc.LocalAddr().String()
}

func rcodeReply(rc dnsmessage.RCode) func(dnsmessage.Header, dnsmessage.Question) []byte {
	return func(h dnsmessage.Header, q dnsmessage.Question) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: rc, RecursionAvailable: true})
		b.StartQuestions()
		b.Question(q)
		msg, _ := b.Finish()
		return msg
	}
}

func TestDNSFailures(t *testing.T) {
	tests := []struct {
		name      string
		answer    func(dnsmessage.Header, dnsmessage.Question) []byte
		target    string
		wantError string // in the dns.response entry
	}{
		{"nxdomain in the zone", nil, "nope.lifeline.test:1883", "NXDOMAIN"},
		{"nxdomain", rcodeReply(dnsmessage.RCodeNameError), "broker.example.com:1883", "NXDOMAIN"},
		{"servfail", rcodeReply(dnsmessage.RCodeServerFailure), "broker.example.com:1883", "SERVFAIL"},
		{"timeout", func(dnsmessage.Header, dnsmessage.Question) []byte { return nil }, "broker.example.com:1883", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ns string
			if tt.answer != nil {
				ns = newFakeDNS(t, tt.answer)
			}
			e := newTestEnv(t, func(c *proxy.Config) {
				c.DialTimeout = time.Second
				if ns != "" {
					c.Nameserver = ns
				}
			})
			start := time.Now()
			code, reason, got := refusedSession(t, e, tt.target)
			if code != 1014 {
				t.Fatalf("close %d %q, want 1014", code, reason)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("the failure took %v to report", took)
			}
			var resp *trace.Entry
			for i, en := range got {
				if en.Kind == trace.KindDNSResponse && en.Error != "" {
					resp = &got[i]
				}
			}
			if resp == nil || !strings.Contains(strings.ToLower(resp.Error+resp.Summary), strings.ToLower(tt.wantError)) {
				t.Fatalf("no dns.response entry with error %s:\n%s", tt.wantError, dump(got))
			}
			if !strings.Contains(resp.Note, " ms") {
				t.Errorf("dns.response note %q does not say how long it took", resp.Note)
			}
		})
	}
}

func TestShutdownGoingAway(t *testing.T) {
	e := newTestEnv(t, nil)
	ws := e.dialWS(t, e.mqttURL(""))
	connect := []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0}
	if err := ws.Send(websocket.MessageBinary, connect); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.Receive(); err != nil || len(msg) < 4 || msg[0] != 0x20 {
		t.Fatalf("no CONNACK: % x %v", msg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.proxy.Shutdown(ctx) }()
	if code, reason := ws.Closed(); code != websocket.StatusGoingAway {
		t.Fatalf("close %d %q, want 1001", code, reason)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestTracePingPong(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.openTrace(t)
	if err := tc.ws.SendJSON(map[string]any{"type": "ping", "t": 1234.5}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tc.mu.Lock()
		for i, m := range tc.other {
			if m["type"] == "pong" {
				raw := tc.raw[i]
				tc.mu.Unlock()
				// The type first, as documented: the page lets a pong
				// wait behind the entries before it by its first bytes.
				if !strings.HasPrefix(raw, `{"type":"pong",`) {
					t.Fatalf("pong %s: want the type first", raw)
				}
				if m["t"] != 1234.5 {
					t.Fatalf("pong t = %v, want 1234.5", m["t"])
				}
				if st, ok := m["serverTime"].(float64); !ok || st <= 0 {
					t.Fatalf("pong serverTime = %v", m["serverTime"])
				}
				return
			}
		}
		tc.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no pong")
}

// newTLSMosquitto starts mosquitto with TLS on a free loopback port, with a
// fresh certificate for name, and returns its address and the certificate.
func newTLSMosquitto(t *testing.T, name string) (string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	m := testenv.StartMosquitto(t, testenv.MosquittoOptions{
		Listener: "certfile {{dir}}/cert.pem\nkeyfile {{dir}}/key.pem\n",
		Files: map[string][]byte{
			"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		},
	})
	return m.Addr, cert
}

func TestTLSMosquitto(t *testing.T) {
	addr, cert := newTLSMosquitto(t, "secure.lifeline.test")
	_, port, _ := net.SplitHostPort(addr)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	e := privateEnv(t, func(c *proxy.Config) { c.TLSConfig = &tls.Config{RootCAs: pool} })
	e.dns.Set("secure.lifeline.test", netip.MustParseAddr("127.0.0.1"))
	tc := e.openTrace(t)
	target := "broker=secure.lifeline.test:" + port + "&tls=1"
	sub := newPaho(t, e.mqttURL(target+"&trace="+tc.token), "tlssub")
	pub := newPaho(t, e.mqttURL(target), "tlspub")
	pubSub(t, pub, sub, "lifeline/tls", 1)
	got := tc.waitFor(t, "tls.handshake", func(en trace.Entry) bool { return en.Kind == trace.KindTLS })
	checkOrder(t, got, "c1", "dns.query", "dns.response", "tcp.syn", "tcp.synack", "tcp.ack", "tls.handshake", "mqtt.CONNECT", "mqtt.CONNACK")
	for _, en := range got {
		if en.Kind == trace.KindTLS && (!strings.Contains(en.Summary, "TLS 1.") || en.Error != "") {
			t.Errorf("tls.handshake entry %+v", en)
		}
	}

	// Without the certificate in the roots, the handshake fails and says so.
	t.Run("untrusted", func(t *testing.T) {
		e := privateEnv(t, nil)
		e.dns.Set("secure.lifeline.test", netip.MustParseAddr("127.0.0.1"))
		code, _, got := refusedSession(t, e, "secure.lifeline.test:"+port+"&tls=1")
		if code != 1014 {
			t.Fatalf("close %d, want 1014", code)
		}
		for _, en := range got {
			if en.Kind == trace.KindTLS {
				var ue x509.UnknownAuthorityError
				if en.Error == "" || errors.As(errors.New(en.Error), &ue) {
					t.Fatalf("tls.handshake entry without the error: %+v", en)
				}
				return
			}
		}
		t.Fatalf("no tls.handshake entry:\n%s", dump(got))
	})
}

func TestIdleTimeout(t *testing.T) {
	e := newTestEnv(t, func(c *proxy.Config) { c.IdleTimeout = 300 * time.Millisecond })
	tc := e.openTrace(t)
	start := time.Now() // before the dial: the idle clock starts at the upgrade, which a loaded client may see late
	ws := e.dialWS(t, e.mqttURL("trace="+tc.token))
	code, reason := ws.Closed()
	if code != websocket.StatusGoingAway || !strings.Contains(reason, "idle") {
		t.Fatalf("close %d %q, want 1001 idle", code, reason)
	}
	if took := time.Since(start); took < 250*time.Millisecond || took > 5*time.Second {
		t.Fatalf("idle session closed after %v, want about 300ms", took)
	}
	tc.waitFor(t, "tcp.fin to the broker", func(en trace.Entry) bool { return en.Kind == trace.KindTCPFin && en.From == "proxy" })
}
