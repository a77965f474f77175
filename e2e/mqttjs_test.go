//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestMQTTJSThroughProxy drives mqtt.js — a client Lifeline did not write —
// through lifeline serve's /mqtt WebSocket to the embedded broker, in MQTT
// 3.1.1 and 5.0: it subscribes, publishes at QoS 0, 1 and 2, and receives all
// three back unchanged. The proxy must pass bytes through untouched.
func TestMQTTJSThroughProxy(t *testing.T) {
	node := testenv.Tool(t, "node")
	s := startServer(t, "-embedded-broker", "127.0.0.1:0")
	wsURL := "ws" + strings.TrimPrefix(s.URL, "http") + "/mqtt"
	for _, version := range []string{"4", "5"} {
		t.Run("v"+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "mqttjs/pubsub.mjs", wsURL, version)
			out, err := cmd.Output()
			var res struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
				Got   []struct {
					Topic, Payload string
					QoS            int
				} `json:"got"`
			}
			if jerr := json.Unmarshal(out, &res); jerr != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					t.Fatalf("mqtt.js: %v: %s%s", err, out, ee.Stderr)
				}
				t.Fatalf("mqtt.js printed %q: %v (run `make deps` to install e2e/mqttjs)", out, jerr)
			}
			if !res.OK || err != nil {
				t.Fatalf("mqtt.js failed: %s (%v)", res.Error, err)
			}
			got := map[string]string{}
			for _, m := range res.Got {
				got[m.Topic] = m.Payload
				if want := int(m.Topic[len(m.Topic)-1] - '0'); m.QoS != want {
					t.Errorf("%s arrived at QoS %d, want %d", m.Topic, m.QoS, want)
				}
			}
			for _, q := range []string{"0", "1", "2"} {
				if got["interop/q"+q] != "hello at qos "+q {
					t.Errorf("interop/q%s: got %q", q, got["interop/q"+q])
				}
			}
		})
	}
}

// TestMQTTJSEndsCleanly runs 50 rounds of mqtt.js (mqttjs/rounds.mjs): per
// round, MQTT 3.1.1 and 5 at QoS 0, 1 and 2, each connection ending
// gracefully inside the handler of the message it published to itself —
// for QoS 2 mqtt.js writes its DISCONNECT before its PUBCOMP, so the broker
// closes while the page is still writing. Over direct TCP to the same
// broker no round errs; through /mqtt none may either (the proxy closed the
// page's connection under those writes: write EPIPE in about one
// connection in five).
func TestMQTTJSEndsCleanly(t *testing.T) {
	node := testenv.Tool(t, "node")
	brokerAddr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	s := startServer(t, "-embedded-broker", brokerAddr)
	const rounds = 50
	for _, leg := range []struct{ name, url string }{
		{"tcp", "mqtt://" + brokerAddr},
		{"proxy", "ws" + strings.TrimPrefix(s.URL, "http") + "/mqtt"},
	} {
		t.Run(leg.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "mqttjs/rounds.mjs", leg.url, strconv.Itoa(rounds))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			var res struct {
				Rounds      int `json:"rounds"`
				Connections int `json:"connections"`
				Failures    []struct {
					Round, Version, QoS int
					Error               string
				} `json:"failures"`
			}
			if jerr := json.Unmarshal(out, &res); jerr != nil || err != nil {
				t.Fatalf("mqtt.js printed %q (%v, %v): %s (run `make deps` to install e2e/mqttjs)", out, err, jerr, stderr.String())
			}
			if res.Rounds != rounds || res.Connections != rounds*6 {
				t.Fatalf("ran %d rounds, %d connections; want %d and %d", res.Rounds, res.Connections, rounds, rounds*6)
			}
			for _, f := range res.Failures {
				t.Errorf("round %d, MQTT v%d QoS %d: %s", f.Round, f.Version, f.QoS, f.Error)
			}
			t.Logf("%s: %d rounds, %d connections, %d failed", leg.name, res.Rounds, res.Connections, len(res.Failures))
		})
	}
}
