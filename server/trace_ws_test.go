package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// traceCmd runs `lifeline trace args…` and returns stdout, stderr and the error.
func traceCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"trace"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

// cuts are the labels' line breaks: "…" at the end of a piece, the arrow
// line, and "…" at the start of the next piece.
var cuts = regexp.MustCompile(`(?s)…[^…]*?…`)

// contains checks that s, with the diagram's label cuts joined, holds every
// piece (spaces are not compared: a cut may fall on one).
func contains(t *testing.T, what, s string, pieces ...string) {
	t.Helper()
	joined := strings.ReplaceAll(cuts.ReplaceAllString(s, ""), " ", "")
	for _, p := range pieces {
		if !strings.Contains(joined, strings.ReplaceAll(p, " ", "")) {
			t.Errorf("%s lacks %q:\n%s", what, p, s)
		}
	}
}

// TestTraceWebSocketMosquitto: `lifeline trace ws://` and `wss://` against
// mosquitto's own WebSocket listener draw the upgrade, the certificate, the
// packets in their frames and the close; -cacert and -insecure are said.
func TestTraceWebSocketMosquitto(t *testing.T) {
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	_, certPEM, keyPEM := wstest.Leaf(t, ca, []string{"localhost", "127.0.0.1"}, nb, na)
	plain := strconv.Itoa(wstest.Mosquitto(t, nil, nil))
	secure := strconv.Itoa(wstest.Mosquitto(t, certPEM, keyPEM))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o644)

	out, errs, err := traceCmd(t, "-v", "4", "-sub", "lifeline/ws/#:1", "-pub", "lifeline/ws/t=21.5:1", "-wait", "100ms", "ws://127.0.0.1:"+plain+"/mqtt")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	contains(t, "ws:// diagram", out, "ws.upgrade  GET /mqtt HTTP/1.1, Host 127.0.0.1:"+plain, "offers subprotocol mqtt",
		"ws.accept  101 Switching Protocols, chose subprotocol mqtt", `CONNECT v3.1.1`, "in binary frame 1: FIN", "masked",
		"SUBACK id=1", "PUBLISH id=", "PUBACK id=", "DISCONNECT", "ws.close  close 1000 normal closure", "tcp.fin  FIN from 127.0.0.1:")
	// (mosquitto closes TCP on DISCONNECT, racing our close frame: whose
	// FIN comes first varies, and whether it answers the close frame.)

	out, errs, err = traceCmd(t, "-cacert", caFile, "-wait", "10ms", "wss://127.0.0.1:"+secure+"/mqtt")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	contains(t, "wss:// diagram", out, "tls.handshake  TLS 1.3", "tls.certificate  subject CN=localhost, issuer CN=Lifeline test CA",
		"valid "+nb.UTC().Format("2006-01-02"), ", verified", "CONNACK Success")
	contains(t, "wss:// stderr", errs, "trusting the CA certificates of "+caFile+" (-cacert)")

	out, errs, err = traceCmd(t, "-insecure", "-wait", "10ms", "wss://127.0.0.1:"+secure+"/mqtt")
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	contains(t, "-insecure diagram", out, "NOT verified (-insecure); verifying fails: x509: certificate signed by unknown authority")
	contains(t, "-insecure stderr", errs, "-insecure: the server's certificate is NOT verified")

	_, _, err = traceCmd(t, "-wait", "10ms", "wss://127.0.0.1:"+secure+"/mqtt")
	if err == nil || !strings.Contains(err.Error(), "unknown authority") || !strings.Contains(err.Error(), "fix: the certificate is signed by CN=Lifeline test CA") {
		t.Errorf("untrusted wss: %v", err)
	}
}

// TestTraceWebSocketServe: `lifeline serve` itself, straight to its /mqtt
// and through -proxy; -json gives the entries with the proxy's lane.
func TestTraceWebSocketServe(t *testing.T) {
	lines := startServe(t, "-embedded-broker", "127.0.0.1:0")
	base := strings.TrimSuffix(lines["lifeline: serving "], "/")
	host := strings.TrimPrefix(base, "http://")
	broker := strings.TrimPrefix(lines["lifeline: embedded broker "], "mqtt://")

	out, errs, err := traceCmd(t, "-wait", "10ms", "ws://"+host+"/mqtt?broker="+broker)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	contains(t, "direct", out, "GET /mqtt?broker="+broker, "chose subprotocol mqtt", "CONNACK Success")

	out, errs, err = traceCmd(t, "-json", "-wait", "10ms", "-proxy", base, "mqtt://"+broker)
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	kinds := map[string]bool{}
	at := map[string]float64{} // leg+kind → time of the first
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e trace.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		kinds[e.Leg+" "+e.From+">"+e.To+" "+e.Kind] = true
		if _, ok := at[e.Leg+" "+e.Kind]; !ok {
			at[e.Leg+" "+e.Kind] = e.T
		}
		if e.Kind == trace.KindWSUpgrade && !strings.Contains(e.Summary, "GET /mqtt?broker="+broker+"&trace=") {
			t.Errorf("upgrade %q", e.Summary)
		}
	}
	for _, k := range []string{
		"client-broker client>proxy tcp.syn", "client-broker client>proxy ws.upgrade", "client-broker proxy>client ws.accept",
		"client-broker client>proxy mqtt.CONNECT", "client-broker proxy>client mqtt.CONNACK", "client-broker client>proxy ws.close",
		// the proxy's own legs, from its /trace channel
		"proxy-broker proxy>broker tcp.syn", "proxy-broker proxy>broker mqtt.CONNECT", "proxy-broker broker>proxy mqtt.CONNACK",
		"proxy-broker proxy>broker mqtt.DISCONNECT",
	} {
		if !kinds[k] {
			t.Errorf("no %s in\n%s", k, out)
		}
	}
	// Causality holds across the two clocks.
	if c, p := at["client-broker mqtt.CONNECT"], at["proxy-broker mqtt.CONNECT"]; p < c {
		t.Errorf("CONNECT reaches the broker leg at %.3f ms, before the client sent it at %.3f ms", p, c)
	}
	if p, c := at["proxy-broker mqtt.CONNACK"], at["client-broker mqtt.CONNACK"]; c < p {
		t.Errorf("CONNACK reaches the client at %.3f ms, before the proxy read it at %.3f ms", c, p)
	}
}

func TestNarrow(t *testing.T) {
	up := func(from, to string, at float64, b byte) trace.Entry {
		return trace.Entry{From: from, To: to, T: at, Kind: "mqtt.PUBLISH", Bytes: []byte{0x30, b}}
	}
	ours := []trace.Entry{up("client", "proxy", 10, 1), up("proxy", "client", 20, 2)}
	theirs := []trace.Entry{up("proxy", "broker", 3, 1), up("broker", "proxy", 12, 2)}
	// Causality: offset ≥ 10-3 = 7 and ≤ 20-12 = 8.
	for _, tt := range []struct{ guess, want float64 }{{0, 7}, {7.5, 7.5}, {100, 8}} {
		if got := narrow(tt.guess, ours, theirs); got != tt.want {
			t.Errorf("narrow(%v) = %v, want %v", tt.guess, got, tt.want)
		}
	}
	// Bounds that cross (clocks that drift) leave the estimate alone.
	theirs[1].T = 15
	if got := narrow(7.5, ours, theirs); got != 7.5 {
		t.Errorf("crossed bounds: %v", got)
	}
	if got := narrow(4, nil, nil); got != 4 {
		t.Errorf("no packets: %v", got)
	}
}

// TestTraceWebSocketFaults: each fault ends `lifeline trace` with its own
// line and a fix; bad input is refused before anything is dialled.
func TestTraceWebSocketFaults(t *testing.T) {
	tests := []struct {
		name string
		args func(t *testing.T) []string
		want []string // pieces of the error
	}{
		{"malformed URL", func(*testing.T) []string { return []string{"ws://h w/"} }, []string{"bad URL", "invalid character"}},
		{"unknown scheme", func(*testing.T) []string { return []string{"gopher://h/"} }, []string{`unknown scheme "gopher": want ws, wss, mqtt or mqtts`}},
		{"port out of range", func(*testing.T) []string { return []string{"ws://127.0.0.1:70000/"} }, []string{"port 70000 is out of range 1-65535"}},
		{"-proxy to a ws URL", func(*testing.T) []string { return []string{"-proxy", "ws://127.0.0.1:1", "ws://127.0.0.1:2/"} }, []string{"-proxy goes to an mqtt:// broker"}},
		{"404", func(t *testing.T) []string {
			return []string{"ws://" + wstest.Raw(t, nil, wstest.Status(404)) + "/nope"}
		},
			[]string{"404 Not Found instead of 101", "fix: no WebSocket endpoint at /nope"}},
		{"200 without upgrading", func(t *testing.T) []string { return []string{"ws://" + wstest.Raw(t, nil, wstest.Status(200)) + "/"} },
			[]string{"200 OK instead of 101", "fix: it answered like a web server"}},
		{"no subprotocol chosen", func(t *testing.T) []string { return []string{"ws://" + wstest.Raw(t, nil, wstest.Then("")) + "/"} },
			[]string{"upgraded without choosing a subprotocol (offered mqtt)"}},
		{"one not offered", func(t *testing.T) []string {
			return []string{"ws://" + wstest.Raw(t, nil, wstest.Then("mqttv5")) + "/"}
		},
			[]string{`chose subprotocol "mqttv5", which was not offered`}},
		{"text frame", func(t *testing.T) []string {
			return []string{"ws://" + wstest.Raw(t, nil, wstest.Then("mqtt", wstest.Frame(1, []byte("{}")))) + "/"}
		}, []string{"the server sent a text frame", "MQTT-6.0.0-1"}},
		{"close with an invalid code", func(t *testing.T) []string {
			return []string{"ws://" + wstest.Raw(t, nil, wstest.Then("mqtt", wstest.CloseFrame(1006, "x"))) + "/"}
		}, []string{"a close with invalid code 1006"}},
		{"frame over -max-frame", func(t *testing.T) []string {
			return []string{"-max-frame", "100", "ws://" + wstest.Raw(t, nil, wstest.Then("mqtt", wstest.Frame(2, make([]byte, 300)))) + "/"}
		}, []string{"a frame of 300 bytes is larger than the limit of 100 bytes", "fix: raise the limit (-max-frame)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errs, err := traceCmd(t, append([]string{"-timeout", "3s", "-wait", "10ms"}, tt.args(t)...)...)
			if err == nil {
				t.Fatalf("no error\n%s\n%s", out, errs)
			}
			contains(t, "error", err.Error(), tt.want...)
			var st exitStatus
			if errors.As(err, &st) {
				t.Errorf("exit status %d for a trace", st)
			}
		})
	}
}

// TestTraceMQTTS: mqtts:// draws the certificate too, verified with
// -cacert, and an expired one ends the trace with its fix.
func TestTraceMQTTS(t *testing.T) {
	broker := testenv.Mochi(t)
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	good, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, nb, na)
	expired, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, nb.Add(-72*time.Hour), nb.Add(-time.Hour))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o644)

	out, errs, err := traceCmd(t, "-cacert", caFile, "-wait", "10ms", "mqtts://"+wstest.TLSFront(t, good, broker))
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, out, errs)
	}
	contains(t, "mqtts diagram", out, "tls.certificate  subject CN=127.0.0.1, issuer CN=Lifeline test CA", ", verified", "CONNACK Success")

	_, _, err = traceCmd(t, "-cacert", caFile, "-wait", "10ms", "mqtts://"+wstest.TLSFront(t, expired, broker))
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "fix: the certificate is outside its validity") {
		t.Errorf("expired: %v", err)
	}
}
