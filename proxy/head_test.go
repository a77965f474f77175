package proxy_test

import (
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/httpdissect"
	"github.com/lifeline-mqtt/lifeline/internal/wstest"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestUpgradeHeads: the ws.upgrade and ws.accept entries carry the HTTP
// heads, so the packet panel has their field trees: the request's method,
// path, Host, Origin and offered subprotocols; the answer's status, chosen
// subprotocol and the Sec-WebSocket-Accept the client really received.
func TestUpgradeHeads(t *testing.T) {
	e := newTestEnv(t, nil)
	tc := e.openTrace(t)
	url := e.mqttURL("trace=" + tc.token)
	ws, resp, err := wstest.Dial(url, e.origin(), "mqtt", "mqttv3.1")
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	got := tc.waitFor(t, "ws.accept", func(en trace.Entry) bool { return en.Kind == trace.KindWSAccept })
	fields := map[string]map[string][]string{}
	for _, en := range got {
		if en.Kind != trace.KindWSUpgrade && en.Kind != trace.KindWSAccept {
			continue
		}
		tree := httpdissect.Dissect(en.Bytes)
		if len(tree.Expert) > 0 || len(en.Bytes) == 0 {
			t.Fatalf("%s: %q: %+v", en.Kind, en.Bytes, tree.Expert)
		}
		m := map[string][]string{}
		var walk func([]codec.Field)
		walk = func(fs []codec.Field) {
			for _, f := range fs {
				if f.Name != "" {
					m[f.Name] = append(m[f.Name], f.Value)
				}
				walk(f.Children)
			}
		}
		walk(tree.Fields)
		fields[en.Kind] = m
	}
	up, acc := fields[trace.KindWSUpgrade], fields[trace.KindWSAccept]
	for name, want := range map[string]string{
		"http.request.method":         "GET",
		"http.request.uri":            "/mqtt?trace=" + tc.token,
		"http.host":                   e.host,
		"http.sec_websocket_protocol": "mqtt,mqttv3.1", // as coder joins them (a browser adds a space)
		"http.request.line":           "Origin: http://" + e.host + "\r\n",
	} {
		if !contains(up[name], want) {
			t.Errorf("ws.upgrade %s = %q, want %q among them", name, up[name], want)
		}
	}
	for name, want := range map[string]string{
		"http.response.code":          "101",
		"http.sec_websocket_protocol": "mqtt",
		"http.sec_websocket_accept":   resp.Header.Get("Sec-WebSocket-Accept"),
	} {
		if !contains(acc[name], want) {
			t.Errorf("ws.accept %s = %q, want %q", name, acc[name], want)
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if strings.EqualFold(x, s) || x == s {
			return true
		}
	}
	return false
}
