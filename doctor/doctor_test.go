package doctor_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/doctor"
	"github.com/lifeline-mqtt/lifeline/internal/leakcheck"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Main(m, "coder/websocket", "wstest")) }

func run(t *testing.T, url string, opt doctor.Options) doctor.Report {
	t.Helper()
	tg, err := wsclient.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	if opt.Timeout == 0 {
		opt.Timeout = 15 * time.Second // generous: the machine may be loaded
	}
	rep := doctor.Run(context.Background(), tg, opt)
	t.Logf("%s works=%v use=%q", rep.URL, rep.Works, rep.Use)
	for _, c := range rep.Checks {
		t.Logf("  [%s] %s: %s | %s", c.Verdict, c.Step, c.Detail, c.Fix)
	}
	return rep
}

// want is what a check must say: its verdict and pieces of its detail and fix.
type want struct {
	step    string
	verdict doctor.Verdict
	detail  string
	fix     string
}

func check(t *testing.T, rep doctor.Report, ws []want) {
	t.Helper()
	for _, w := range ws {
		found := false
		for _, c := range rep.Checks {
			if c.Step != w.step {
				continue
			}
			found = true
			if c.Verdict != w.verdict || !strings.Contains(c.Detail, w.detail) || !strings.Contains(c.Fix, w.fix) {
				t.Errorf("%s: got [%s] %q fix %q; want [%s] %q fix %q", w.step, c.Verdict, c.Detail, c.Fix, w.verdict, w.detail, w.fix)
			}
		}
		if !found {
			t.Errorf("no check %s", w.step)
		}
	}
}

// TestDoctorMosquitto: mosquitto's WebSocket listener, plain and TLS (a CA
// made here, trusted, then not trusted): every check passes, or the
// certificate check says what to do and the rest still runs.
func TestDoctorMosquitto(t *testing.T) {
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	_, certPEM, keyPEM := wstest.Leaf(t, ca, []string{"localhost", "127.0.0.1"}, nb, na)
	plain := strconv.Itoa(wstest.Mosquitto(t, nil, nil))
	secure := strconv.Itoa(wstest.Mosquitto(t, certPEM, keyPEM))
	all := []want{
		{"upgrade", doctor.OK, "101 Switching Protocols, chose mqtt", ""},
		{"subprotocol mqtt", doctor.OK, "chose mqtt", ""},
		{"subprotocol mqttv3.1", doctor.OK, "chose mqttv3.1", ""},
		{"no subprotocol", doctor.OK, "accepted", ""},
		{"connect 3.1.1", doctor.OK, "CONNACK 0x00 Connection Accepted", ""},
		{"connect 5.0", doctor.OK, "CONNACK 0x00 Success", ""},
		{"roundtrip", doctor.OK, "the message came back at QoS 1", ""},
	}
	t.Run("plain", func(t *testing.T) {
		rep := run(t, "ws://127.0.0.1:"+plain+"/mqtt", doctor.Options{})
		check(t, rep, append(all, want{"tcp", doctor.OK, "connected to 127.0.0.1:" + plain, ""}))
		if !rep.Works {
			t.Error("does not work")
		}
	})
	t.Run("tls trusted", func(t *testing.T) {
		rep := run(t, "wss://127.0.0.1:"+secure+"/mqtt", doctor.Options{RootCAs: ca.Pool()})
		check(t, rep, append(all, want{"tls", doctor.OK, "issuer CN=Lifeline test CA, names localhost 127.0.0.1", ""}))
		if !rep.Works {
			t.Error("does not work")
		}
	})
	t.Run("tls untrusted", func(t *testing.T) {
		rep := run(t, "wss://127.0.0.1:"+secure+"/mqtt", doctor.Options{})
		check(t, rep, append(all, want{"tls", doctor.Fail, "certificate names: localhost, 127.0.0.1", "-cacert FILE"}))
		if rep.Works {
			t.Error("works with an untrusted certificate")
		}
	})
	t.Run("mqtt to the WebSocket port", func(t *testing.T) {
		rep := run(t, "mqtt://127.0.0.1:"+plain, doctor.Options{})
		check(t, rep, []want{{"connect 3.1.1", doctor.Fail, "", "use ws://127.0.0.1:" + plain + "/"}})
	})
}

// TestDoctorFindsPathAndSubprotocol: told a wrong path, the doctor finds
// the one that upgrades, and the subprotocol the server takes; it says what
// to use, and the endpoint works that way.
func TestDoctorFindsPathAndSubprotocol(t *testing.T) {
	broker := testenv.Mochi(t)
	for _, tt := range []struct {
		path, proto, given string
	}{
		{"/mqtt", "mqtt", "/ws"},
		{"/ws", "mqttv3.1", "/"},
		{"/", "mqtt", "/broker"},
	} {
		t.Run(tt.path+" "+tt.proto, func(t *testing.T) {
			addr := wstest.Bridge(t, broker, wstest.BridgeOptions{Path: tt.path, Protocol: tt.proto})
			rep := run(t, "ws://"+addr+tt.given, doctor.Options{})
			if rep.Works {
				t.Error("works on the wrong path")
			}
			use := "ws://" + addr + tt.path + " with subprotocol " + tt.proto
			if rep.Use != use {
				t.Errorf("use %q, want %q", rep.Use, use)
			}
			check(t, rep, []want{
				{"upgrade", doctor.Fail, "GET " + tt.given + " → 404 Not Found", "use ws://" + addr + tt.path},
				{"subprotocol " + tt.proto, doctor.OK, "chose " + tt.proto, ""},
				{"roundtrip", doctor.OK, "came back", ""},
			})
			if tt.proto == "mqttv3.1" {
				check(t, rep, []want{{"subprotocol mqtt", doctor.Fail, "400 Bad Request", "refuses the upgrade when offered mqtt"}})
			}
		})
	}
}

// TestDoctorFaults: servers written for each fault.
func TestDoctorFaults(t *testing.T) {
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	expired, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	wrongName, _, _ := wstest.Leaf(t, ca, []string{"broker.example"}, nb, na)
	self, _, _ := wstest.Leaf(t, nil, []string{"127.0.0.1"}, nb, na)
	tests := []struct {
		name   string
		scheme string
		addr   func(t *testing.T) string
		want   []want
	}{
		{"nothing listens", "ws", func(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) },
			[]want{{"tcp", doctor.Fail, "connection refused", "nothing listens on port"}}},
		{"connects time out", "ws", func(t *testing.T) string { return wstest.Blackhole(t) },
			[]want{{"tcp", doctor.Fail, "timeout", "a firewall drops the packets"}}},
		{"200 on every path", "ws", func(t *testing.T) string { return wstest.Raw(t, nil, wstest.Status(200)) },
			[]want{{"upgrade", doctor.Fail, "GET /mqtt → 200 OK; GET / → 200 OK; GET /ws → 200 OK", "did not upgrade"}, {"roundtrip", doctor.Skip, "", ""}}},
		{"upgrades without a subprotocol", "ws", func(t *testing.T) string { return wstest.Raw(t, nil, wstest.Then("")) },
			[]want{{"upgrade", doctor.OK, "chose no subprotocol", ""}, {"subprotocol mqtt", doctor.Fail, "without choosing a subprotocol", "MQTT-6.0.0-4"},
				{"no subprotocol", doctor.OK, "accepted", ""}}},
		{"chooses one not offered", "ws", func(t *testing.T) string { return wstest.Raw(t, nil, wstest.Then("chat")) },
			[]want{{"subprotocol mqtt", doctor.Fail, `chose subprotocol "chat", which was not offered`, "RFC 6455"}}},
		{"sends a text frame", "ws", func(t *testing.T) string {
			return wstest.Raw(t, nil, wstest.Then("mqtt", wstest.Frame(1, []byte("hello"))))
		},
			[]want{{"connect 3.1.1", doctor.Fail, "text frame", "not an MQTT broker"}}},
		{"closes with an invalid code", "ws", func(t *testing.T) string { return wstest.Raw(t, nil, wstest.Then("mqtt", wstest.CloseFrame(1005, ""))) },
			[]want{{"connect 5.0", doctor.Fail, "invalid code 1005", "RFC 6455 7.4"}}},
		{"expired certificate", "wss", func(t *testing.T) string { return wstest.Raw(t, &expired, wstest.Then("mqtt")) },
			[]want{{"tls", doctor.Fail, "expired", "outside its validity"}}},
		{"certificate for another name", "wss", func(t *testing.T) string { return wstest.Raw(t, &wrongName, wstest.Then("mqtt")) },
			[]want{{"tls", doctor.Fail, "certificate names: broker.example", "is for broker.example, not 127.0.0.1"}}},
		{"self-signed certificate", "wss", func(t *testing.T) string { return wstest.Raw(t, &self, wstest.Then("mqtt")) },
			[]want{{"tls", doctor.Fail, "unknown authority", "itself (self-signed)"}}},
		{"plain port told wss", "wss", func(t *testing.T) string { return wstest.Raw(t, nil, wstest.Status(400)) },
			[]want{{"tls", doctor.Fail, "", "does not speak TLS"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := run(t, tt.scheme+"://"+tt.addr(t)+"/mqtt", doctor.Options{RootCAs: ca.Pool(), Timeout: 8 * time.Second})
			if rep.Works {
				t.Error("works")
			}
			check(t, rep, tt.want)
		})
	}
}

// TestDoctorIdle: a hop that closes connections idle for 1 s is found
// (and the fix names a keepalive below it); one that does not passes.
func TestDoctorIdle(t *testing.T) {
	broker := testenv.Mochi(t)
	closing := wstest.Bridge(t, broker, wstest.BridgeOptions{Path: "/mqtt", Protocol: "mqtt", Idle: time.Second})
	open := wstest.Bridge(t, broker, wstest.BridgeOptions{Path: "/mqtt", Protocol: "mqtt"})
	t.Run("closing", func(t *testing.T) {
		// Closed after 1 s; the doctor waits 8 s, so a loaded machine has time.
		rep := run(t, "ws://"+closing+"/mqtt", doctor.Options{Idle: 8 * time.Second, KeepAlive: 60})
		check(t, rep, []want{{"idle", doctor.Fail, "closed after", "before a keepalive of 60 s would ping"}})
		if rep.Works {
			t.Error("works")
		}
	})
	t.Run("open", func(t *testing.T) {
		rep := run(t, "ws://"+open+"/mqtt", doctor.Options{Idle: 1500 * time.Millisecond})
		check(t, rep, []want{{"idle", doctor.OK, "still open after 1.5s idle; PINGREQ answered", ""}})
		if !rep.Works {
			t.Error("does not work")
		}
	})
}

// TestDoctorMQTT: mqtt:// to mochi, and mqtts:// through a TLS front with
// a good and with an expired certificate: no WebSocket checks, the rest
// the same.
func TestDoctorMQTT(t *testing.T) {
	broker := testenv.Mochi(t)
	ca := wstest.NewCA(t)
	nb, na := wstest.Valid()
	good, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, nb, na)
	expired, _, _ := wstest.Leaf(t, ca, []string{"127.0.0.1"}, time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour))
	ok := []want{{"connect 3.1.1", doctor.OK, "Connection Accepted", ""}, {"connect 5.0", doctor.OK, "Success", ""}, {"roundtrip", doctor.OK, "came back", ""}}

	rep := run(t, "mqtt://"+broker, doctor.Options{})
	check(t, rep, ok)
	for _, c := range rep.Checks {
		if c.Step == "upgrade" || c.Step == "tls" {
			t.Errorf("check %s for mqtt://", c.Step)
		}
	}
	if !rep.Works {
		t.Error("does not work")
	}

	rep = run(t, "mqtts://"+wstest.TLSFront(t, good, broker), doctor.Options{RootCAs: ca.Pool()})
	check(t, rep, append(ok, want{"tls", doctor.OK, "TLS 1.3", ""}))
	if !rep.Works {
		t.Error("mqtts does not work")
	}

	rep = run(t, "mqtts://"+wstest.TLSFront(t, expired, broker), doctor.Options{RootCAs: ca.Pool()})
	check(t, rep, append(ok, want{"tls", doctor.Fail, "expired", "the checks below ran without verifying"}))
	if rep.Works {
		t.Error("works with an expired certificate")
	}
}
