package proxy

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
)

// The reasons a request is refused, the label of lifeline_refusals_total.
const (
	RefusedHost             = "host"              // a Host header not served here
	RefusedUpgrade          = "upgrade"           // not a valid WebSocket upgrade: method, headers, Origin
	RefusedSubprotocol      = "subprotocol"       // a subprotocol other than mqtt or mqttv3.1
	RefusedMaxConns         = "max_conns"         // -max-conns reached
	RefusedMaxConnsPerIP    = "max_conns_per_ip"  // -max-conns-per-ip reached
	RefusedShuttingDown     = "shutting_down"     // Shutdown called
	RefusedTraceToken       = "trace_token"       // an unknown trace token
	RefusedSessionID        = "session_id"        // a malformed, reused or forged session id
	RefusedSessionElsewhere = "session_elsewhere" // a /mqtt for a session this instance does not hold
	RefusedConnID           = "conn_id"           // a malformed or reused &conn= connection id
	RefusedTarget           = "target"            // a broker parameter that is not HOST:PORT
	RefusedPolicy           = "policy"            // the allowlist or the address checks
	RefusedTraceForm        = "trace_form"        // a /trace ?batch= other than 1
)

// metrics are the Server's Prometheus metrics (see Register). A nil
// *metrics records nothing, so a Server without them pays nothing.
type metrics struct {
	sessions, traces prometheus.Counter
	refusals         *prometheus.CounterVec
	dialFailures     prometheus.Counter
	connect, dns     prometheus.Histogram
}

// Register adds the Server's metrics to reg, under lifeline_*: open and
// started sessions and trace channels, bytes and MQTT packets by direction
// (up: page to broker; down: broker to page), refusals by reason, failed
// dials, and histograms of the TCP connect and DNS lookup times. Call it
// before the Server serves.
func (s *Server) Register(reg prometheus.Registerer) error {
	m := &metrics{
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeline_sessions_total",
			Help: "/mqtt sessions started (upgraded, whether or not the broker was reached)."}),
		traces: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeline_traces_total",
			Help: "/trace side channels opened."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeline_refusals_total",
			Help: "Requests to /mqtt or /trace refused, by reason."}, []string{"reason"}),
		dialFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeline_dial_failures_total",
			Help: "Sessions whose DNS, TCP or TLS to the broker failed (refusals by policy not included)."}),
		connect: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lifeline_dial_seconds",
			Help:    "Time of the TCP connect to the broker (the kernel's handshake).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		dns: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lifeline_dns_seconds",
			Help:    "Time of the broker name's DNS lookup, when a query was sent.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
	}
	for _, r := range []string{RefusedHost, RefusedUpgrade, RefusedSubprotocol, RefusedMaxConns, RefusedMaxConnsPerIP,
		RefusedShuttingDown, RefusedTraceToken, RefusedSessionID, RefusedSessionElsewhere, RefusedConnID, RefusedTarget, RefusedPolicy,
		RefusedTraceForm} {
		m.refusals.WithLabelValues(r) // every reason present from the start, at 0
	}
	gauge := func(name, help string, f func(Stats) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return float64(f(s.Stats())) })
	}
	cs := []prometheus.Collector{m.sessions, m.traces, m.refusals, m.dialFailures, m.connect, m.dns,
		gauge("lifeline_sessions", "/mqtt sessions open.", func(st Stats) int { return st.Sessions }),
		gauge("lifeline_traces", "/trace side channels open.", func(st Stats) int { return st.Traces }),
		gauge("lifeline_websockets", "WebSockets open, both kinds, counted against -max-conns.", func(st Stats) int { return st.WebSockets }),
		gauge("lifeline_max_conns", "The -max-conns limit.", func(st Stats) int { return st.MaxConns }),
		gauge("lifeline_shutting_down", "1 once the server is shutting down.", func(st Stats) int {
			if st.ShuttingDown {
				return 1
			}
			return 0
		}),
		&flowCollector{s: s,
			bytes: prometheus.NewDesc("lifeline_bytes_total",
				"Bytes forwarded, by direction: up is page to broker, down is broker to page.", []string{"direction"}, nil),
			packets: prometheus.NewDesc("lifeline_packets_total",
				"MQTT packets seen, by direction: up is page to broker, down is broker to page.", []string{"direction"}, nil)},
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	s.metrics = m
	return nil
}

// HeldPacketsGauge is the hook for the lab bench's held packets: the bench,
// once it holds packets back, registers its count here as
// lifeline_held_packets (nothing in the proxy holds packets before it).
func HeldPacketsGauge(reg prometheus.Registerer, held func() int) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lifeline_held_packets",
		Help: "Packets the lab bench holds back right now."}, func() float64 { return float64(held()) }))
}

// flowCollector reports the bytes and packets of every session, ended and
// open, read at scrape time: the forwarding loops count into their own
// session's atomics and never touch a shared counter.
type flowCollector struct {
	s              *Server
	bytes, packets *prometheus.Desc
}

func (c *flowCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.bytes; ch <- c.packets }

func (c *flowCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.s.flowTotals()
	for i, dir := range []string{"up", "down"} {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(f.bytes[i]), dir)
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(f.packets[i]), dir)
	}
}

// flow counts the bytes and packets of sessions, up (index 0) and down.
type flow struct{ bytes, packets [2]int64 }

// counted is what session ss has forwarded so far.
func (ss *session) counted() flow {
	return flow{bytes: [2]int64{ss.bytesUp.Load(), ss.bytesDown.Load()},
		packets: [2]int64{ss.packetsUp.Load(), ss.packetsDown.Load()}}
}

func (f *flow) add(g flow) {
	for i := range 2 {
		f.bytes[i] += g.bytes[i]
		f.packets[i] += g.packets[i]
	}
}

// flowTotals is the flow of the ended sessions plus the open ones'.
func (s *Server) flowTotals() flow {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.ended
	for ss := range s.sessions {
		f.add(ss.counted())
	}
	return f
}

// refused counts a refusal (a nil m counts nothing).
func (m *metrics) refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

func (m *metrics) traceOpened() {
	if m != nil {
		m.traces.Inc()
	}
}

func (m *metrics) sessionStarted() {
	if m != nil {
		m.sessions.Inc()
	}
}

// dialed records a dial's outcome: its times when it connected, a failure
// when it did not (refusals are counted as such).
func (m *metrics) dialed(d dialResult) {
	switch {
	case m == nil:
	case d.bc != nil && d.res != nil:
		m.connect.Observe(d.res.Connect.Seconds())
		if d.res.DNS > 0 {
			m.dns.Observe(d.res.DNS.Seconds())
		}
	case d.code == CloseBadTarget:
		m.refused(RefusedTarget)
	case d.code == 1008:
		m.refused(RefusedPolicy)
	default:
		m.dialFailures.Inc()
	}
}

// refused counts a refusal of request r and logs it.
func (s *Server) refused(reason string, r *http.Request, why string) {
	s.metrics.refused(reason)
	s.cfg.Log.Warn("refused connection", "path", r.URL.Path, "remote", r.RemoteAddr, "reason", why)
}
