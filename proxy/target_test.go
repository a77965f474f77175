package proxy_test

import (
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/proxy"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A broker named without a port is not a policy refusal: the page is told
// to give a port, with its own close code, and nothing is looked up.
func TestMissingPortInWords(t *testing.T) {
	e := newTestEnv(t, nil)
	code, reason, got := refusedSession(t, e, "broker.iot.example")
	if code != proxy.CloseBadTarget || !strings.Contains(reason, "no port: give one, as in broker.iot.example:1883") {
		t.Fatalf("close %d %q, want %d asking for a port", code, reason, proxy.CloseBadTarget)
	}
	if strings.Contains(reason, "allow") || strings.Contains(reason, "policy") {
		t.Fatalf("close reason %q blames the policy for a missing port", reason)
	}
	for _, en := range got {
		if en.Kind == trace.KindDNSQuery {
			t.Fatalf("a target with no port was looked up:\n%s", dump(got))
		}
	}
}
