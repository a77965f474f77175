//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
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
