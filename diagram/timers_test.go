package diagram

import (
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// at moves the trace's clock to ms.
func (b *v5trace) at(ms float64) *v5trace { b.ms = ms - 10; return b }

// end adds a non-MQTT entry (a cut, a drop) at the next tick.
func (b *v5trace) end(conn, from, to, kind string, drop *trace.Drop) {
	b.ms += 10
	b.m.Add(trace.Entry{T: b.ms, Leg: trace.LegProxyBroker, From: from, To: to, Conn: conn, Kind: kind,
		Observed: trace.ObservedKernel, Drop: drop}, Local)
}

func connect5(id string, clean bool, sessionExpiry uint32, willTopic string, willDelay uint32) *codec.Connect {
	c := &codec.Connect{Version: codec.V5, ClientID: id, CleanStart: clean, KeepAlive: 0}
	if sessionExpiry > 0 {
		c.Properties.SessionExpiry = sessionExpiry
		c.Properties.Set(codec.PropSessionExpiry)
	}
	if willTopic != "" {
		c.WillFlag, c.WillTopic, c.WillPayload = true, willTopic, []byte("offline")
		c.WillProperties.WillDelay = willDelay
		c.WillProperties.Set(codec.PropWillDelay)
	}
	return c
}

func expiry(s uint32) func(p *codec.Properties) {
	return func(p *codec.Properties) { p.MessageExpiry = s; p.Set(codec.PropMessageExpiry) }
}

// timerWords is the deadlines of broker timers as "label met|pending".
func timerWords(m *Model) []string {
	var out []string
	for _, d := range m.View(0, m.Len()).Deadlines {
		if d.Timer == "" {
			continue
		}
		w := d.Label
		switch {
		case d.Pending:
			w += " (pending)"
		case d.Met:
			w += " (met)"
		}
		out = append(out, w)
	}
	return out
}

func TestBrokerTimers(t *testing.T) {
	retain := func(p *codec.Publish) *codec.Publish { p.Retain = true; return p }
	retained := func(s uint32) *codec.Publish { return retain(pub5("r/t", expiry(s))) }
	for _, c := range []struct {
		name  string
		build func(b *v5trace)
		want  []string
	}{
		{"retained message expires", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", true, 0, "", 0))
			b.send("c1", "dev", "broker", retained(2))
			b.at(4000).send("c2", "app", "broker", connect5("app", true, 0, "", 0))
		}, []string{"message expiry 2 s: message expired here [3.3.2.3.3]"}},
		{"retained message pending", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", true, 0, "", 0))
			b.send("c1", "dev", "broker", retained(60))
		}, []string{"message expiry 60 s: retained message expires here [3.3.2.3.3] (pending)"}},
		{"retained message replaced before it expired", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", true, 0, "", 0))
			b.send("c1", "dev", "broker", retained(2))
			b.at(1000).send("c1", "dev", "broker", retain(pub5("r/t", nil)))
			b.at(5000).send("c1", "dev", "broker", &codec.Pingreq{})
		}, nil},
		{"queued message dropped as expired", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", true, 0, "", 0))
			b.send("c1", "dev", "broker", pub5("q/t", expiry(3)))
			b.at(5000).end("", "broker", "broker", trace.KindBrokerDrop, &trace.Drop{Reason: trace.DropExpired, Topic: "q/t"})
		}, []string{"message expiry 3 s: message expired here [3.3.2.3.3]"}},
		{"held message delivered in time", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", true, 0, "", 0))
			b.send("c1", "dev", "broker", pub5("q/t", expiry(10)))
			b.at(4000).send("c2", "broker", "app", pub5("q/t", expiry(6)))
		}, []string{"message expiry 10 s: delivered before it expired [3.3.2.3.3] (met)"}},
		{"message delivered at once: no deadline", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", true, 0, "", 0))
			b.send("c1", "dev", "broker", pub5("q/t", expiry(10)))
			b.send("c2", "broker", "app", pub5("q/t", expiry(10)))
			b.at(20000).send("c1", "dev", "broker", &codec.Pingreq{})
		}, nil},
		{"will published after the delay", func(b *v5trace) {
			b.send("c1", "sensor", "broker", connect5("sensor", true, 60, "s/status", 2))
			b.end("c1", "proxy", "broker", trace.KindTCPRst, nil)
			b.at(2100).send("c2", "broker", "app", pub5("s/status", nil))
		}, []string{"will delay 2 s: will published here [3.1.3.2.2]", "session expiry 60 s: session kept until here [3.1.2.11.2] (pending)"}},
		{"will cancelled by the return", func(b *v5trace) {
			b.send("c1", "sensor", "broker", connect5("sensor", false, 60, "s/status", 5))
			b.end("c1", "proxy", "broker", trace.KindTCPRst, nil)
			b.at(1000).send("c2", "sensor", "broker", connect5("sensor", false, 60, "s/status", 5))
			b.send("c2", "broker", "sensor", &codec.Connack{SessionPresent: true})
		}, []string{"will delay 5 s: cancelled, the client came back [3.1.3.2.2] (met)", "session expiry 60 s: session kept, resumed [3.1.2.11.2] (met)"}},
		{"will pending", func(b *v5trace) {
			b.send("c1", "sensor", "broker", connect5("sensor", true, 10, "s/status", 5))
			b.end("c1", "proxy", "broker", trace.KindTCPFin, nil)
		}, []string{"will delay 5 s: will due here [3.1.3.2.2] (pending)", "session expiry 10 s: session kept until here [3.1.2.11.2] (pending)"}},
		{"will sooner when the session ends sooner", func(b *v5trace) {
			b.send("c1", "sensor", "broker", connect5("sensor", true, 3, "s/status", 30))
			b.end("c1", "proxy", "broker", trace.KindTCPRst, nil)
			b.at(3100).send("c2", "broker", "app", pub5("s/status", nil))
		}, []string{"will delay 3 s: will published here [3.1.3.2.2]", "session expiry 3 s: session gone here [3.1.2.11.2]"}},
		{"polite DISCONNECT: no will", func(b *v5trace) {
			b.send("c1", "sensor", "broker", connect5("sensor", true, 0, "s/status", 2))
			b.send("c1", "sensor", "broker", &codec.Disconnect{})
			b.at(5000).send("c2", "app", "broker", &codec.Pingreq{})
		}, nil},
		{"session gone after its expiry", func(b *v5trace) {
			b.send("c1", "phone", "broker", connect5("phone", false, 2, "", 0))
			b.send("c1", "phone", "broker", &codec.Disconnect{})
			b.at(4000).send("c2", "phone", "broker", connect5("phone", false, 2, "", 0))
			b.send("c2", "broker", "phone", &codec.Connack{})
		}, []string{"session expiry 2 s: session gone here [3.1.2.11.2]"}},
		{"session expiry set by DISCONNECT", func(b *v5trace) {
			b.send("c1", "phone", "broker", connect5("phone", false, 2, "", 0))
			d := &codec.Disconnect{}
			d.Properties.SessionExpiry = 30
			d.Properties.Set(codec.PropSessionExpiry)
			b.send("c1", "phone", "broker", d)
		}, []string{"session expiry 30 s: session kept until here [3.1.2.11.2] (pending)"}},
		{"session kept by the return in time", func(b *v5trace) {
			b.send("c1", "phone", "broker", connect5("phone", false, 60, "", 0))
			b.send("c1", "phone", "broker", &codec.Disconnect{})
			b.at(4000).send("c2", "phone", "broker", connect5("phone", false, 60, "", 0))
			b.send("c2", "broker", "phone", &codec.Connack{SessionPresent: true})
		}, []string{"session expiry 60 s: session kept, resumed [3.1.2.11.2] (met)"}},
		{"clean start discards the session: no deadline", func(b *v5trace) {
			b.send("c1", "phone", "broker", connect5("phone", false, 60, "", 0))
			b.send("c1", "phone", "broker", &codec.Disconnect{})
			b.at(1000).send("c2", "phone", "broker", connect5("phone", true, 0, "", 0))
			b.send("c2", "broker", "phone", &codec.Connack{})
		}, nil},
		{"session without expiry ends with the connection", func(b *v5trace) {
			b.send("c1", "phone", "broker", connect5("phone", false, 0, "", 0))
			b.end("c1", "proxy", "broker", trace.KindTCPRst, nil)
		}, nil},
		{"takeover: the session goes on", func(b *v5trace) {
			b.send("c1", "dev", "broker", connect5("dev", false, 60, "s/status", 5))
			b.send("c2", "dev", "broker", connect5("dev", false, 60, "s/status", 5))
			b.send("c1", "broker", "dev", &codec.Disconnect{ReasonCode: 0x8E})
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &v5trace{t: t, m: New(Options{})}
			c.build(b)
			got := timerWords(b.m)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("deadlines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			for _, d := range b.m.View(0, b.m.Len()).Deadlines {
				if d.Timer != "" && b.m.Lanes()[d.Lane].Party != "broker" {
					t.Errorf("%s drawn on lane %d, not the broker's", d.Label, d.Lane)
				}
			}
		})
	}
}

// TestBrokerTimersWindow: a resolved timer is drawn only in a view whose
// rows span its time; a 3.1.1 session keeps none.
func TestBrokerTimersWindow(t *testing.T) {
	b := &v5trace{t: t, m: New(Options{})}
	b.send("c1", "phone", "broker", connect5("phone", false, 2, "", 0)) // row 0
	b.send("c1", "phone", "broker", &codec.Disconnect{})                // row 1, 20 ms
	b.at(4000).send("c2", "phone", "broker", connect5("phone", false, 2, "", 0))
	b.send("c2", "broker", "phone", &codec.Connack{}) // row 3
	for _, c := range []struct {
		first, n int
		want     int
	}{{0, 2, 0}, {1, 2, 1}, {0, 4, 1}, {3, 1, 0}} {
		v := b.m.View(c.first, c.n)
		if len(v.Deadlines) != c.want {
			t.Errorf("rows %d+%d: %d deadlines, want %d", c.first, c.n, len(v.Deadlines), c.want)
		}
		for _, d := range v.Deadlines {
			if d.Row < 1 || d.Row > 2 || d.T != 2020 || d.Interval != 2 || d.Timer != TimerSessionExpiry || d.Clause != "3.1.2.11.2" {
				t.Errorf("deadline %+v, want at 2020 ms between rows 1 and 2", d)
			}
		}
	}
	m := New(Options{})
	m.Add(mq(0, trace.LegProxyBroker, "dev", "broker", pktConnect(0)), Local)
	m.Add(ev(10, trace.LegProxyBroker, "proxy", "broker", trace.KindTCPRst, nil), Local)
	if got := timerWords(m); len(got) != 0 {
		t.Errorf("3.1.1: %q", got)
	}
}

// TestBrokerTimersBounded: the timers followed are bounded, the older half
// forgotten but for the connections still open, whose will and session
// are still drawn when they end.
func TestBrokerTimersBounded(t *testing.T) {
	b := &v5trace{t: t, m: New(Options{MaxArrows: 100})}
	b.send("c1", "dev", "broker", connect5("dev", true, 30, "s/status", 5))
	for i := 0; i < maxTimers+50; i++ {
		b.send("c1", "dev", "broker", pub5("q/t", expiry(60)))
	}
	if n := len(b.m.timers.list); n > maxTimers {
		t.Fatalf("%d timers followed, want at most %d", n, maxTimers)
	}
	if got := b.m.timers.list[len(b.m.timers.list)-1].start.e.T; got != b.ms {
		t.Errorf("the newest timer starts at %v, want %v", got, b.ms)
	}
	b.end("c1", "proxy", "broker", trace.KindTCPRst, nil)
	want := "will delay 5 s: will due here [3.1.3.2.2] (pending)\nsession expiry 30 s: session kept until here [3.1.2.11.2] (pending)"
	if got := strings.Join(timerWords(b.m), "\n"); got != want {
		t.Errorf("after the cut:\n%s\nwant\n%s", got, want)
	}
}
