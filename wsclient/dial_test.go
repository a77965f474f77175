package wsclient_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

// entries collects trace entries.
type entries struct {
	mu sync.Mutex
	es []trace.Entry
}

func (r *entries) add(e trace.Entry) { r.mu.Lock(); r.es = append(r.es, e); r.mu.Unlock() }

// find returns the first entry of kind whose summary contains s.
func (r *entries) find(kind, s string) (trace.Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.es {
		if e.Kind == kind && strings.Contains(e.Summary, s) {
			return e, true
		}
	}
	return trace.Entry{}, false
}

func (r *entries) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, e := range r.es {
		b.WriteString(e.From + "->" + e.To + " " + e.Kind + " " + e.Summary + " [" + e.Note + "] " + e.Error + "\n")
	}
	return b.String()
}

func dialer(rec *entries, cfg *tls.Config) *netrec.Dialer {
	return &netrec.Dialer{Emit: rec.add, Party: "client", Leg: trace.LegClientBroker, Timeout: 5 * time.Second, TLSConfig: cfg}
}

func target(t *testing.T, s string) wsclient.Target {
	t.Helper()
	tg, err := wsclient.ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// exchange sends CONNECT and reads the CONNACK over c.
func exchange(t *testing.T, c net.Conn, v codec.Version) *codec.Connack {
	t.Helper()
	b, _ := codec.AppendPacket(nil, &codec.Connect{Version: v, CleanStart: true, KeepAlive: 30, ClientID: "wsclient-test"}, v)
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	sp := codec.NewSplitter(0)
	buf := make([]byte, 1024)
	for {
		if pkt, ok, err := sp.Next(); err != nil {
			t.Fatal(err)
		} else if ok {
			p, err := codec.Decode(pkt, v)
			if err != nil {
				t.Fatal(err)
			}
			return p.(*codec.Connack)
		}
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		sp.Write(buf[:n])
	}
}

// TestDialMosquitto: Debian's mosquitto's own WebSocket listener, plain
// and TLS with a certificate made here, in both MQTT versions: the upgrade,
// the certificate, CONNECT/CONNACK in their frames and the close are drawn.
func TestDialMosquitto(t *testing.T) {
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	_, certPEM, keyPEM := wstest.Leaf(t, ca, []string{"127.0.0.1", "localhost"}, nb, na)
	plain := wstest.Mosquitto(t, nil, nil)
	secure := wstest.Mosquitto(t, certPEM, keyPEM)
	for _, tt := range []struct {
		url  string
		tls  bool
		vers codec.Version
	}{
		{"ws://127.0.0.1:" + strconv.Itoa(plain) + "/mqtt", false, codec.V311},
		{"ws://127.0.0.1:" + strconv.Itoa(plain) + "/", false, codec.V5},
		{"wss://127.0.0.1:" + strconv.Itoa(secure) + "/mqtt", true, codec.V5},
	} {
		t.Run(tt.url+"/"+tt.vers.String(), func(t *testing.T) {
			var rec entries
			cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
			c, res, err := wsclient.Dial(context.Background(), target(t, tt.url), wsclient.Options{Dialer: dialer(&rec, cfg), Version: int(tt.vers)})
			if err != nil {
				t.Fatalf("%v\n%s", err, rec.String())
			}
			if res.Subprotocol != "mqtt" || res.Status != "101 Switching Protocols" {
				t.Errorf("result %+v", res)
			}
			if ack := exchange(t, c, tt.vers); ack.ReasonCode != 0 {
				t.Errorf("CONNACK %v", ack.ReasonCode)
			}
			if err := c.Close(); err != nil {
				t.Log("close:", err) // mosquitto may close TCP before answering the close frame
			}
			want := []struct{ kind, summary string }{
				{trace.KindWSUpgrade, "offers subprotocol mqtt"},
				{trace.KindWSAccept, "101 Switching Protocols, chose subprotocol mqtt"},
				{"mqtt.CONNECT", "CONNECT v" + tt.vers.String()},
				{"mqtt.CONNACK", "CONNACK"},
				{trace.KindWSClose, "close 1000 normal closure"},
			}
			if tt.tls {
				want = append(want, struct{ kind, summary string }{trace.KindTLSCertificate, "names localhost 127.0.0.1"})
				if res.Cert == nil || !res.Cert.Verified {
					t.Errorf("certificate %+v", res.Cert)
				}
			}
			for _, w := range want {
				if _, ok := rec.find(w.kind, w.summary); !ok {
					t.Errorf("no %s %q in\n%s", w.kind, w.summary, rec.String())
				}
			}
			if e, _ := rec.find("mqtt.CONNECT", ""); !strings.HasPrefix(e.Note, "in binary frame 1: FIN") || !strings.Contains(e.Note, "masked") || e.Version != int(tt.vers) {
				t.Errorf("CONNECT's frame: %+v", e)
			}
		})
	}
}

// TestDialFaults: each fault of a server gets its own error, at the right
// step, with a fix, and never a hang.
func TestDialFaults(t *testing.T) {
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	good, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, nb, na)
	expired, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	wrongName, _, _ := wstest.Leaf(t, ca, []string{"broker.example"}, nb, na)
	self, _, _ := wstest.Leaf(t, nil, []string{"127.0.0.1"}, nb, na)
	connack := wstest.Frame(2, []byte{0x20, 0x02, 0x00, 0x00})
	tests := []struct {
		name    string
		cert    *tls.Certificate
		h       wstest.Handler
		offer   []string
		limit   int64
		step    wsclient.Step
		err     string // a piece of the error
		fix     string // a piece of the fix
		dialsOK bool   // the fault comes after the upgrade
	}{
		{name: "404 on the path", h: wstest.Status(404), step: wsclient.StepUpgrade, err: "404 Not Found instead of 101", fix: "/mqtt"},
		{name: "200 without upgrading", h: wstest.Status(200), step: wsclient.StepUpgrade, err: "200 OK instead of 101", fix: "did not upgrade"},
		{name: "redirect", h: func(c net.Conn, _ *bufio.Reader, _ *http.Request) {
			io.WriteString(c, "HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere/\r\nContent-Length: 0\r\n\r\n")
		}, step: wsclient.StepUpgrade, err: "301 Moved", fix: "redirects to https://elsewhere/"},
		{name: "not HTTP", h: func(c net.Conn, _ *bufio.Reader, _ *http.Request) { io.WriteString(c, " \x02\x00\x00garbage\r\n\r\n") },
			step: wsclient.StepUpgrade, err: "malformed HTTP", fix: "does not speak HTTP"},
		{name: "no answer", h: func(c net.Conn, br *bufio.Reader, _ *http.Request) { io.Copy(io.Discard, br) },
			step: wsclient.StepUpgrade, err: "no answer to the upgrade", fix: "did not answer"},
		{name: "upgrade without a subprotocol", h: wstest.Then(""), step: wsclient.StepSubprotocol, err: "without choosing a subprotocol", fix: "MQTT-6.0.0-4"},
		{name: "a subprotocol not offered", h: wstest.Then("mqttv3.1"), step: wsclient.StepSubprotocol, err: `chose subprotocol "mqttv3.1", which was not offered`, fix: "RFC 6455"},
		{name: "text frame", h: wstest.Then("mqtt", wstest.Frame(1, []byte("hello"))), dialsOK: true, step: wsclient.StepFrames, err: "text frame", fix: "not an MQTT broker"},
		{name: "close with an invalid code", h: wstest.Then("mqtt", wstest.CloseFrame(999, "bad")), dialsOK: true, step: wsclient.StepFrames, err: "invalid code 999", fix: "RFC 6455 7.4"},
		{name: "frame over the limit", limit: 1024, h: wstest.Then("mqtt", wstest.Frame(2, make([]byte, 4096))), dialsOK: true, step: wsclient.StepFrames, err: "4096 bytes is larger than the limit of 1024", fix: "-max-frame"},
		{name: "reserved opcode", h: wstest.Then("mqtt", []byte{0x83, 0x00}), dialsOK: true, step: wsclient.StepFrames, err: "reserved opcode 0x3"},
		{name: "binary frame that is not MQTT", h: wstest.Then("mqtt", wstest.Frame(2, []byte{0x20, 0xff, 0xff, 0xff, 0xff, 0x7f})), dialsOK: true, step: wsclient.StepFrames, err: "do not hold MQTT"},
		{name: "expired certificate", cert: &expired, h: wstest.Then("mqtt"), step: wsclient.StepTLS, err: "expired", fix: "outside its validity"},
		{name: "certificate for another name", cert: &wrongName, h: wstest.Then("mqtt"), step: wsclient.StepTLS, err: "127.0.0.1", fix: "is for broker.example, not 127.0.0.1"},
		{name: "self-signed certificate", cert: &self, h: wstest.Then("mqtt"), step: wsclient.StepTLS, err: "unknown authority", fix: "itself (self-signed)"},
		{name: "good certificate, then CONNACK", cert: &good, h: wstest.Then("mqtt", connack), dialsOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := wstest.Raw(t, tt.cert, tt.h)
			scheme := "ws://"
			if tt.cert != nil {
				scheme = "wss://"
			}
			var rec entries
			d := dialer(&rec, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
			d.Timeout = 2 * time.Second
			c, _, err := wsclient.Dial(context.Background(), target(t, scheme+addr+"/mqtt"), wsclient.Options{Dialer: d, Subprotocols: tt.offer, ReadLimit: tt.limit, Version: 4})
			if tt.dialsOK {
				if err != nil {
					t.Fatalf("dial: %v\n%s", err, rec.String())
				}
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				var b [64]byte
				var n int
				n, err = io.ReadAtLeast(c, b[:], 4)
				if tt.step == "" {
					if err != nil || !bytes.Equal(b[:n], []byte{0x20, 0x02, 0x00, 0x00}) {
						t.Fatalf("read % x, %v\n%s", b[:n], err, rec.String())
					}
					return
				}
			}
			var we *wsclient.Error
			if !errors.As(err, &we) || we.Step != tt.step || !strings.Contains(err.Error(), tt.err) || !strings.Contains(we.Fix, tt.fix) {
				t.Fatalf("error %v (fix %q), want step %s with %q and a fix with %q\n%s", err, fixOf(we), tt.step, tt.err, tt.fix, rec.String())
			}
		})
	}
}

func fixOf(e *wsclient.Error) string {
	if e == nil {
		return ""
	}
	return e.Fix
}

// TestDialRefused: nothing listens: the TCP step, with the port named.
func TestDialRefused(t *testing.T) {
	port := testenv.FreePort(t)
	var rec entries
	_, _, err := wsclient.Dial(context.Background(), target(t, "ws://127.0.0.1:"+strconv.Itoa(port)+"/"), wsclient.Options{Dialer: dialer(&rec, nil)})
	var we *wsclient.Error
	if !errors.As(err, &we) || we.Step != wsclient.StepTCP || !strings.Contains(we.Fix, "nothing listens on port "+strconv.Itoa(port)) {
		t.Fatalf("error %v", err)
	}
}

// TestDialInsecure: -insecure connects to a self-signed server and says
// what verifying would have found.
func TestDialInsecure(t *testing.T) {
	nb, na := wstest.Valid()
	self, _, _ := wstest.Leaf(t, nil, []string{"127.0.0.1"}, nb, na)
	addr := wstest.Raw(t, &self, wstest.Then("mqtt"))
	var rec entries
	c, res, err := wsclient.Dial(context.Background(), target(t, "wss://"+addr+"/"), wsclient.Options{Dialer: dialer(&rec, &tls.Config{InsecureSkipVerify: true})})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if res.Cert == nil || !res.Cert.Skipped || res.Cert.Err == nil {
		t.Fatalf("certificate %+v", res.Cert)
	}
	if _, ok := rec.find(trace.KindTLSCertificate, "NOT verified (-insecure); verifying fails"); !ok {
		t.Fatalf("entries:\n%s", rec.String())
	}
}
