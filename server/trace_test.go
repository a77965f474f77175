package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/static"
	"github.com/lifeline-mqtt/lifeline/trace"
)

var updateTrace = flag.Bool("update-trace", false, "rewrite the golden files of trace_test.go")

var ports = regexp.MustCompile(`127\.0\.0\.1:\d+`)

func TestTraceTextGolden(t *testing.T) {
	addr := testenv.Mochi(t)
	for _, v := range []string{"4", "5"} {
		t.Run("v"+v, func(t *testing.T) {
			var out, errb bytes.Buffer
			o := traceOptions{mask: true}
			args := []string{"-v", v, "-id", "golden", "-k", "30", "-sub", "lifeline/in/#:2", "-pub", "lifeline/out=hello:1",
				"-pub", "lifeline/out=again:2", "-pub", "lifeline/out=q0", "-wait", "10ms", "mqtt://" + addr}
			if err := runTraceWith(context.Background(), args, &out, &errb, &o); err != nil {
				t.Fatalf("%v\n%s", err, errb.String())
			}
			// Ports masked digit for digit, so the lanes stay aligned.
			got := ports.ReplaceAllStringFunc(out.String(), func(a string) string {
				i := strings.LastIndexByte(a, ':') + 1
				return a[:i] + strings.Repeat("P", len(a)-i)
			})
			// The two FINs of the close race each other: check them apart.
			i := strings.Index(got, "| DISCONNECT")
			if i < 0 {
				t.Fatalf("no DISCONNECT in\n%s", got)
			}
			head, tail := got[:i], got[i:]
			if n := strings.Count(tail, "tcp.fin"); n != 2 {
				t.Errorf("%d FINs drawn, want one from each side:\n%s", n, tail)
			}
			path := filepath.Join("testdata", "trace-v"+v+".golden")
			if *updateTrace {
				os.WriteFile(path, []byte(head), 0o644)
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if head != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", head, want)
			}
		})
	}
}

func TestTraceJSON(t *testing.T) {
	addr := testenv.Mochi(t)
	var out, errb bytes.Buffer
	// keepalive 2s and a 2.5s wait: the idle client pings by itself.
	args := []string{"-json", "-id", "js", "-k", "2", "-wait", "2500ms", "mqtt://" + addr}
	if err := runTrace(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var kinds []string
	var froms string
	last := -1.0
	for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e trace.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		if e.Seq != i+1 || e.T < last || e.Leg != trace.LegClientBroker {
			t.Errorf("entry %d: %+v", i, e)
		}
		if strings.HasPrefix(e.Kind, "mqtt.") && (len(e.Bytes) == 0 || e.Version != int(codec.DefaultVersion) || e.Observed != trace.ObservedWire) {
			t.Errorf("mqtt entry without bytes/version: %+v", e)
		}
		last = e.T
		kinds = append(kinds, e.Kind)
		froms += " " + e.From + ">" + e.Kind
	}
	// Then both FINs: closing waits for the broker's (which of the two
	// comes first is a race).
	want := "tcp.syn tcp.synack tcp.ack mqtt.CONNECT mqtt.CONNACK mqtt.PINGREQ mqtt.PINGRESP mqtt.DISCONNECT tcp.fin tcp.fin"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("kinds:\n %s\nwant\n %s", got, want)
	}
	if !strings.Contains(froms, "broker>tcp.fin") || !strings.Contains(froms, "client>tcp.fin") {
		t.Errorf("want a FIN from each side, got %s", froms)
	}
}

func TestTraceFlags(t *testing.T) {
	tests := []struct {
		args []string
		err  string
	}{
		{[]string{}, "one broker URL expected"},
		{[]string{"http://x"}, "scheme http is a web page: for its WebSocket write ws://"},
		{[]string{"-v", "3", "mqtt://127.0.0.1:1"}, "-v must be 4 or 5"},
		{[]string{"-pub", "nope", "mqtt://127.0.0.1:1"}, "want TOPIC=PAYLOAD"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := runTrace(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
		})
	}
	for in, want := range map[string]string{"mqtt://h": "h:1883", "mqtts://h": "h:8883", "mqtt://h:1": "h:1", "mqtts://[::1]:9": "[::1]:9"} {
		if got, _, err := parseBrokerURL(in); got != want || err != nil {
			t.Errorf("parseBrokerURL(%q) = %q, %v", in, got, err)
		}
	}
	m, _ := parsePub("a/b=x:y:2")
	if m.Topic != "a/b" || string(m.Payload) != "x:y" || m.QoS != 2 {
		t.Errorf("parsePub: %+v", m)
	}
}

func TestTraceRefused(t *testing.T) {
	// Nothing listens: the diagram shows the failed connect and the command fails.
	var out bytes.Buffer
	err := runTrace(context.Background(), []string{"-timeout", "2s", "mqtt://127.0.0.1:1"}, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "tcp.rst") {
		t.Fatalf("err %v, out:\n%s", err, out.String())
	}
}

// TestTraceFromCapture draws the lifecycle capture: the device's DNS lookup, its
// handshake, its CONNECT with the keepalive, and the publisher's PUBLISH and
// PUBACK, in order; -json gives the same entries as JSON lines.
func TestTraceFromCapture(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"trace", "-from", file}, &out, &errs); err != nil {
		t.Fatalf("trace -from: %v\n%s", err, errs.String())
	}
	text := out.String()
	path := filepath.Join("testdata", "trace-capture.golden")
	if *updateTrace {
		os.WriteFile(path, out.Bytes(), 0o644)
	}
	if want, err := os.ReadFile(path); err != nil || text != string(want) {
		t.Errorf("diagram differs from %s (%v):\n%s", path, err, text)
	}
	last := -1
	for _, want := range []string{
		"dns.query  Standard query", "A broker.iot.example",
		"tcp.syn", "tcp.synack", "tcp.ack",
		`CONNECT v3.1.1 id="device01" keepalive=5`, "CONNACK Success",
		"SUBSCRIBE id=1 devices/device01/cmd:1", "SUBACK id=1",
		"PUBLISH id=1 qos=1 devices/device01/telemetry", "PUBACK id=1",
		"PINGREQ", "PINGRESP", "DISCONNECT", "tcp.fin",
	} {
		i := strings.Index(text[last+1:], want)
		if i < 0 {
			t.Fatalf("diagram lacks %q after offset %d:\n%s", want, last, text)
		}
		last += 1 + i
	}

	out.Reset()
	if err := run(context.Background(), []string{"trace", "-json", "-from", file}, &out, &errs); err != nil {
		t.Fatalf("trace -json -from: %v", err)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e trace.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		kinds[e.Kind]++
	}
	for _, k := range []string{"dns.query", "dns.response", "tcp.syn", "mqtt.CONNECT", "mqtt.PUBLISH", "mqtt.PUBACK", "mqtt.PINGREQ", "mqtt.DISCONNECT"} {
		if kinds[k] == 0 {
			t.Errorf("-json: no %s entry (kinds %v)", k, kinds)
		}
	}
}

// The CLI's own DNS step, for real: the broker's name is resolved through a
// DNS server on loopback (-nameserver), and the query and its response come
// before the TCP handshake, on the client-dns leg.
func TestTraceDNS(t *testing.T) {
	addr := testenv.Mochi(t)
	ns, err := embedded.StartDNS("127.0.0.1:0", embedded.Zone, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	ns.Set(embedded.BrokerName, netip.MustParseAddr("127.0.0.1"))
	_, port, _ := net.SplitHostPort(addr)

	var out, errb bytes.Buffer
	args := []string{"-json", "-nameserver", ns.Addr().String(), "-id", "dns", "-wait", "0s",
		"mqtt://" + embedded.BrokerName + ":" + port}
	if err := runTrace(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	var entries []trace.Entry
	for i, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e trace.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
		entries = append(entries, e)
	}
	query, response, syn := -1, -1, -1
	for i, e := range entries {
		switch e.Kind {
		case trace.KindDNSQuery:
			if e.Leg != trace.LegClientDNS || e.From != "client" || e.To != "dns" {
				t.Errorf("dns.query %+v: want leg client-dns from client to dns", e)
			}
			var p dnsmessage.Parser
			if _, err := p.Start(e.Bytes); err != nil {
				t.Fatalf("dns.query bytes: %v", err)
			}
			if q, err := p.Question(); err != nil || q.Name.String() != embedded.BrokerName+"." {
				t.Errorf("question %v, %v: want %s", q, err, embedded.BrokerName)
			}
			if query < 0 {
				query = i
			}
		case trace.KindDNSResponse:
			if e.Leg != trace.LegClientDNS || e.From != "dns" || e.To != "client" || e.Error != "" {
				t.Errorf("dns.response %+v: want leg client-dns from dns to client", e)
			}
			var msg dnsmessage.Message
			if err := msg.Unpack(e.Bytes); err != nil {
				t.Fatalf("dns.response bytes: %v", err)
			}
			for _, a := range msg.Answers {
				if r, ok := a.Body.(*dnsmessage.AResource); ok && r.A == [4]byte{127, 0, 0, 1} {
					response = i
				}
			}
		case trace.KindTCPSyn:
			if syn < 0 {
				syn = i
			}
		}
	}
	if query < 0 || response < 0 || syn < 0 || !(query < response && response < syn) {
		var kinds []string
		for _, e := range entries {
			kinds = append(kinds, e.Kind)
		}
		t.Fatalf("want dns.query, then a dns.response answering 127.0.0.1, then tcp.syn; got %v", kinds)
	}
}

// TestTraceFindings: the expert analysis follows the trace, as a Findings
// section and as {"finding":…} lines with -json. mosquitto with max_qos 1
// grants QoS 1 to a QoS 2 subscription: a note on the SUBACK.
func TestTraceFindings(t *testing.T) {
	m := testenv.StartMosquitto(t, testenv.MosquittoOptions{Extra: "max_qos 1\n"})
	for _, asJSON := range []bool{false, true} {
		args := []string{"-id", "findings", "-sub", "a/#:2", "-wait", "0s", "mqtt://" + m.Addr}
		if asJSON {
			args = append([]string{"-json"}, args...)
		}
		var out, errb bytes.Buffer
		if err := runTrace(context.Background(), args, &out, &errb); err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
		if !asJSON {
			for _, want := range []string{"Findings: 0 errors, 0 warnings, 1 notes, 0 chats", `SUBACK grants QoS 1 for "a/#", lower than the QoS 2 asked for [3.8.4]`} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("text output lacks %q:\n%s", want, out.String())
				}
			}
			continue
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var f struct {
			Finding struct {
				Severity string `json:"severity"`
				Code     string `json:"code"`
				Seq      []int  `json:"seq"`
			} `json:"finding"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &f); err != nil {
			t.Fatal(err)
		}
		if f.Finding.Code != "suback.downgraded" || f.Finding.Severity != "note" || len(f.Finding.Seq) != 2 {
			t.Fatalf("last line %s, want the SUBACK's finding", lines[len(lines)-1])
		}
		var e trace.Entry
		if err := json.Unmarshal([]byte(lines[f.Finding.Seq[0]-1]), &e); err != nil || e.Kind != "mqtt.SUBACK" {
			t.Fatalf("finding points at %+v (%v), want the SUBACK", e, err)
		}
	}
}

// TestTraceAliasesLive: with -topic-alias the client assigns Topic Aliases
// when the broker announces a Topic Alias Maximum (mosquitto: 10), so the
// second PUBLISH to
// a topic carries alias 1 and no topic; the expert analysis notes the
// alias set (a chat) and the diagram says what alias 1 stands for. The
// embedded mochi announces no maximum in CONNACK, so the client uses no
// alias with it and neither appears (see expert/live_test.go).
func TestTraceAliasesLive(t *testing.T) {
	m := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	var out, errb bytes.Buffer
	args := []string{"-json", "-v", "5", "-topic-alias", "-id", "aliases", "-pub", "plant/t1=21.5", "-pub", "plant/t1=21.6", "-wait", "0s", "mqtt://" + m.Addr}
	if err := runTrace(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	model := diagram.New(diagram.Options{})
	var set, pubs []int
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.HasPrefix(l, `{"finding":`) {
			var f struct {
				Finding struct {
					Code string `json:"code"`
					Seq  []int  `json:"seq"`
				} `json:"finding"`
			}
			if err := json.Unmarshal([]byte(l), &f); err != nil {
				t.Fatal(err)
			}
			if f.Finding.Code != "alias.set" {
				t.Errorf("unexpected finding %s", l)
			}
			set = append(set, f.Finding.Seq...)
			continue
		}
		var e trace.Entry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		model.Add(e, diagram.Imported)
		if e.Kind == "mqtt.PUBLISH" {
			pubs = append(pubs, e.Seq)
		}
	}
	if len(pubs) != 2 || len(set) != 1 || set[0] != pubs[0] {
		t.Fatalf("PUBLISHes %v, alias set by %v: want the first to set it", pubs, set)
	}
	for _, a := range model.View(0, model.Len()).Arrows {
		if a.Seq == pubs[1] {
			if a.MQTT5 == nil || a.MQTT5.Alias != 1 || a.MQTT5.AliasTopic != "plant/t1" || a.MQTT5.AliasSet {
				t.Fatalf("second PUBLISH links %+v, want alias 1 = plant/t1", a.MQTT5)
			}
			if !strings.Contains(a.Summary, "alias") {
				t.Errorf("second PUBLISH summary %q does not mention its alias", a.Summary)
			}
		}
	}
}

// TestOneDefaultVersion: the page, `lifeline trace` and `lifeline dissect`
// speak the same version unless told otherwise, and it is 3.1.1.
func TestOneDefaultVersion(t *testing.T) {
	if codec.DefaultVersion != codec.V311 {
		t.Fatalf("DefaultVersion %v, want 3.1.1", codec.DefaultVersion)
	}
	page, err := fs.ReadFile(static.FS, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`<option value="%d" selected>`, codec.DefaultVersion)
	if !bytes.Contains(page, []byte(want)) {
		t.Errorf("index.html's version select lacks %s", want)
	}
	for _, cmd := range []string{"trace", "dissect"} {
		var help bytes.Buffer
		_ = run(context.Background(), []string{cmd, "-h"}, io.Discard, &help)
		line := regexp.MustCompile(`(?m)^  -v int\n.*$`).FindString(help.String())
		if wantDef := fmt.Sprintf("(default %d)", codec.DefaultVersion); !strings.Contains(line, wantDef) {
			t.Errorf("lifeline %s -h says %q for -v, want %s", cmd, line, wantDef)
		}
	}
}
