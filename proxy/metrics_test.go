package proxy_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeline-mqtt/lifeline/proxy"
)

// The lab bench's hook registers lifeline_held_packets, read at each
// gather; the proxy's own metrics register once per registry.
func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	held := 3
	if err := proxy.HeldPacketsGauge(reg, func() int { return held }); err != nil {
		t.Fatal(err)
	}
	s := proxy.New(proxy.Config{})
	if err := s.Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(reg); err == nil {
		t.Fatal("registering the proxy's metrics twice in one registry succeeded")
	}
	held = 5
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if m := f.GetMetric(); len(m) == 1 && m[0].Gauge != nil {
			got[f.GetName()] = m[0].Gauge.GetValue()
		}
	}
	for name, want := range map[string]float64{"lifeline_held_packets": 5, "lifeline_sessions": 0, "lifeline_max_conns": 1024} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
}
