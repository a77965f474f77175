package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// -h prints every flag once, in a group, with its environment variable, on
// stdout, and nothing on stderr.
func TestServeHelp(t *testing.T) {
	var out, errOut strings.Builder
	err := run(context.Background(), []string{"serve", "-h"}, &out, &errOut)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run = %v, want flag.ErrHelp", err)
	}
	help := out.String()
	if errOut.Len() != 0 {
		t.Errorf("stderr: %q", errOut.String())
	}
	if strings.Contains(help, "\nOther:") {
		t.Errorf("a flag is in no group:\n%s", help)
	}
	for _, g := range serveGroups {
		if !strings.Contains(help, "\n"+g.title+":\n") {
			t.Errorf("group %q missing", g.title)
		}
	}
	names := 0
	for _, line := range strings.Split(help, "\n") {
		if strings.HasPrefix(line, "  -") {
			names++
			name := strings.Fields(line)[0][1:]
			if env := envName(name); !strings.HasSuffix(line, " "+env) {
				t.Errorf("the line of -%s does not name %s: %q", name, env, line)
			}
		}
	}
	want := 0
	for _, g := range serveGroups {
		want += len(g.names)
	}
	if names != want {
		t.Errorf("%d flags listed, want %d:\n%s", names, want, help)
	}
	for _, want := range []string{"LIFELINE_<FLAG>", "/healthz", "SIGTERM", "(default 127.0.0.1:8080)"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}

// A bad flag, argument or environment value stops serve before it listens,
// with one line that names the culprit.
func TestServeBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  [2]string
		want string
	}{
		{"not a number", []string{"-max-conns", "abc"}, [2]string{}, `invalid value "abc" for flag -max-conns`},
		{"unknown flag", []string{"-bogus"}, [2]string{}, "-bogus"},
		{"zero limit", []string{"-max-conns", "0"}, [2]string{}, "-max-conns must be greater than 0"},
		{"negative timeout", []string{"-idle-timeout", "-1s"}, [2]string{}, "-idle-timeout must be greater than 0"},
		{"zero partial timeout", []string{"-partial-timeout", "0s"}, [2]string{}, "-partial-timeout must be greater than 0"},
		{"bad partial timeout in the environment", nil, [2]string{"LIFELINE_PARTIAL_TIMEOUT", "soon"}, `LIFELINE_PARTIAL_TIMEOUT="soon": invalid value for -partial-timeout`},
		{"stray argument", []string{"8080"}, [2]string{}, `unexpected argument "8080"`},
		{"bad log level", []string{"-log-level", "loud"}, [2]string{}, "-log-level"},
		{"bad allow pattern", []string{"-allow", "nope"}, [2]string{}, "-allow"},
		{"bad origin", []string{"-origins", "example.com"}, [2]string{}, "-origins"},
		{"bad environment value", nil, [2]string{"LIFELINE_MAX_CONNS", "many"}, `LIFELINE_MAX_CONNS="many": invalid value for -max-conns`},
		{"zero broker limit", []string{"-broker-max-queued", "0"}, [2]string{}, "-broker-max-queued must be greater than 0"},
		{"broker window out of range", []string{"-broker-max-inflight", "70000"}, [2]string{}, "-broker-max-inflight must be greater than 0 (and in range)"},
		{"short session expiry", []string{"-broker-session-expiry", "10ms"}, [2]string{}, "-broker-session-expiry must be"},
		{"bad broker environment value", nil, [2]string{"LIFELINE_BROKER_RETAINED_BYTES", "lots"}, `LIFELINE_BROKER_RETAINED_BYTES="lots": invalid value for -broker-retained-bytes`},
		{"bad log format", []string{"-log-format", "xml"}, [2]string{}, `-log-format: "xml" is not text or json`},
		{"certificate without key", []string{"-tls-cert", "cert.pem"}, [2]string{}, "-tls-cert and -tls-key go together"},
		{"key without certificate", nil, [2]string{"LIFELINE_TLS_KEY", "key.pem"}, "-tls-cert and -tls-key go together"},
		{"missing certificate", []string{"-tls-cert", "/nonexistent/cert.pem", "-tls-key", "/nonexistent/key.pem"}, [2]string{}, "-tls-cert/-tls-key: open /nonexistent/cert.pem"},
		{"relative base path", []string{"-base-path", "lifeline/"}, [2]string{}, "-base-path"},
		{"base path with a query", []string{"-base-path", "/lifeline/?x"}, [2]string{}, "-base-path"},
		{"base path climbing", []string{"-base-path", "/a/../b/"}, [2]string{}, "-base-path"},
		{"negative drain delay", []string{"-drain-delay", "-1s"}, [2]string{}, "-drain-delay must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("LIFELINE_LISTEN", "")
			if tt.env[0] != "" {
				t.Setenv(tt.env[0], tt.env[1])
			}
			var out, errOut strings.Builder
			args := append([]string{"serve", "-listen", "127.0.0.1:0", "-embedded-broker", "off"}, tt.args...)
			err := run(context.Background(), args, &out, &errOut)
			if err == nil {
				t.Fatal("serve started")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line containing %q", msg, tt.want)
			}
			if out.Len() != 0 || errOut.Len() != 0 {
				t.Errorf("printed %q and %q besides the error", out.String(), errOut.String())
			}
		})
	}
}

func getHealth(t *testing.T, base string) (int, health) {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, h
}

// openSession opens /trace and a /mqtt session to the default broker and
// gets its CONNACK.
func openSession(t *testing.T, base string) (tr, ws *websocket.Conn) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	h := http.Header{"Origin": {base}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, _, err := websocket.Dial(ctx, "ws://"+host+"/trace", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.CloseNow() })
	var hello struct{ Token string }
	wsjson.Read(ctx, tr, &hello)
	ws, _, err = websocket.Dial(ctx, "ws://"+host+"/mqtt?trace="+hello.Token, &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	ws.Write(ctx, websocket.MessageBinary, []byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0})
	if _, msg, err := ws.Read(ctx); err != nil || msg[0] != 0x20 {
		t.Fatalf("CONNACK: % x %v", msg, err)
	}
	return tr, ws
}

// /healthz counts the sessions, trace channels and the embedded broker's
// clients.
func TestServeHealthz(t *testing.T) {
	s := startServeCtx(t, context.Background(), "-embedded-broker", "127.0.0.1:0")
	base := strings.TrimSuffix(s.lines["lifeline: serving "], "/")
	code, h := getHealth(t, base)
	if code != 200 || h.Status != "ok" || h.Sessions != 0 || h.EmbeddedBroker != "running" || h.BrokerClients == nil || *h.BrokerClients != 0 || h.MaxConns != 1024 {
		t.Fatalf("idle: %d %+v", code, h)
	}
	openSession(t, base)
	code, h = getHealth(t, base)
	if code != 200 || h.Sessions != 1 || h.Traces != 1 || h.WebSockets != 2 || *h.BrokerClients != 1 {
		t.Fatalf("with one session: %d %+v", code, h)
	}
	if b := h.Broker; b == nil || b.Clients != 1 || b.Sessions != 1 || b.Drops == nil {
		t.Fatalf("broker state with one session: %+v", b)
	}

	off := startServeCtx(t, context.Background(), "-embedded-broker", "off")
	if _, h := getHealth(t, strings.TrimSuffix(off.lines["lifeline: serving "], "/")); h.EmbeddedBroker != "off" || h.BrokerClients != nil {
		t.Fatalf("broker off: %+v", h)
	}
}

// SIGTERM (as `kill` or a service manager sends it) ends serve cleanly:
// its sessions are closed with 1001 going away and run returns nil.
func TestServeStopsOnSIGTERM(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	s := startServeCtx(t, ctx, "-embedded-broker", "127.0.0.1:0")
	_, ws := openSession(t, strings.TrimSuffix(s.lines["lifeline: serving "], "/"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("session ended with %v, want close 1001", err)
		}
		break
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("serve returned %v after SIGTERM", s.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve still running 10 s after SIGTERM")
	}
}

// The first startup line is the URL to open (one the Host check accepts);
// the next says who can reach it.
func TestStartupLines(t *testing.T) {
	dns := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
	tests := []struct {
		name      string
		listen    *net.TCPAddr
		broker    *net.TCPAddr
		defBroker string
		want      []string
	}{
		{"loopback", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1883}, "broker.lifeline.test:1883",
			[]string{"serving http://127.0.0.1:8080/", "on this machine", "embedded broker mqtt://127.0.0.1:1883", "default broker is broker.lifeline.test:1883"}},
		{"every interface", &net.TCPAddr{IP: net.IPv4zero, Port: 8080}, nil, "",
			[]string{"serving http://localhost:8080/", "-origins http://HOST:8080", "embedded broker: off", "no default broker"}},
		{"every interface v6", &net.TCPAddr{IP: net.IPv6unspecified, Port: 80}, nil, "mqtt.example.com:8883",
			[]string{"serving http://localhost:80/", "every interface ([::]:80)", "default broker is mqtt.example.com:8883"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines := startupLines(tt.listen, tt.broker, dns, tt.defBroker)
			all := strings.Join(lines, "\n")
			if lines[0] != tt.want[0] {
				t.Errorf("first line %q, want %q", lines[0], tt.want[0])
			}
			for _, w := range tt.want[1:] {
				if !strings.Contains(all, w) {
					t.Errorf("lines lack %q:\n%s", w, all)
				}
			}
			host := strings.TrimSuffix(strings.TrimPrefix(lines[0], "serving http://"), "/")
			hosts, _, _ := allowedHosts(tt.listen, "http", "")
			if !slices.Contains(hosts, host) {
				t.Errorf("the printed host %s is not accepted (hosts %v)", host, hosts)
			}
		})
	}
}

// The README names every flag of lifeline serve (the bounds in "Safe by
// default"), so that a new flag is documented where people look.
func TestReadmeNamesEveryServeFlag(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range serveGroups {
		for _, name := range g.names {
			if !strings.Contains(string(readme), "`-"+name) {
				t.Errorf("README.md does not name -%s", name)
			}
		}
	}
}
