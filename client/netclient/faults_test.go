package netclient_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/client/internal/fakebroker"
	"github.com/lifeline-mqtt/lifeline/client/internal/simclock"
	"github.com/lifeline-mqtt/lifeline/codec"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func sessionCfg(v codec.Version) client.Config {
	cfg := client.Config{Version: v, ClientID: "dev", Reconnect: true, Backoff: client.Backoff{Min: time.Second, Max: 4 * time.Second}}
	if v == codec.V5 {
		cfg.Properties.SessionExpiry = 600
		cfg.Properties.Set(codec.PropSessionExpiry)
	}
	return cfg
}

// connectFake connects r to the fake broker and answers CONNECT.
func connectFake(t *testing.T, r *running, fb *fakebroker.Broker, v codec.Version, wantConnect string, ack *codec.Connack) *fakebroker.Conn {
	t.Helper()
	c := fb.Accept(v)
	c.Expect(wantConnect)
	c.Send(ack)
	r.waitState(client.StateConnected)
	return c
}

// TestResumeAfterDrop: the broker drops the connection at each point of the
// QoS 1 and 2 flows; on reconnect the client resumes the session with the
// exact packets MQTT 4.4 requires, in the original order, and each message
// completes once.
func TestResumeAfterDrop(t *testing.T) {
	tests := []struct {
		name string
		qos  codec.QoS
		// before the drop, the broker reads the PUBLISH and maybe answers
		answer codec.Packet
		resend string // what the resumed session sends first
		finish func(c *fakebroker.Conn)
	}{
		{"after QoS 1 PUBLISH", 1, nil, "PUBLISH id=1 qos=1 dup t (1 B)",
			func(c *fakebroker.Conn) { c.Send(&codec.Puback{PacketID: 1}) }},
		{"after QoS 2 PUBLISH", 2, nil, "PUBLISH id=1 qos=2 dup t (1 B)",
			func(c *fakebroker.Conn) {
				c.Send(&codec.Pubrec{PacketID: 1})
				c.Expect("PUBREL id=1")
				c.Send(&codec.Pubcomp{PacketID: 1})
			}},
		{"after PUBREC", 2, &codec.Pubrec{PacketID: 1}, "PUBREL id=1",
			func(c *fakebroker.Conn) { c.Send(&codec.Pubcomp{PacketID: 1}) }},
	}
	for _, v := range []codec.Version{codec.V311, codec.V5} {
		for _, tt := range tests {
			t.Run(v.String()+"/"+tt.name, func(t *testing.T) {
				fb := fakebroker.Start(t)
				clock := simclock.New(epoch)
				r := start(t, sessionCfg(v), fb.Addr(), clock)
				r.Connect()
				connect := `CONNECT v` + v.String() + ` id="dev" keepalive=0`
				c := connectFake(t, r, fb, v, connect, &codec.Connack{})
				r.Publish(client.Message{Topic: "t", Payload: []byte("m"), QoS: tt.qos})
				r.Publish(client.Message{Topic: "t", Payload: []byte("n"), QoS: 1})
				c.Expect("PUBLISH id=1 qos=" + itoa(int(tt.qos)) + " t (1 B)")
				c.Expect("PUBLISH id=2 qos=1 t (1 B)")
				if tt.answer != nil {
					c.Send(tt.answer)
					c.Expect("PUBREL id=1")
				}
				c.Close()
				ev := r.waitState(client.StateWaiting)
				if ev.Delay < 500*time.Millisecond || ev.Delay >= time.Second {
					t.Fatalf("first backoff %v", ev.Delay)
				}
				waitArmed(t, clock, ev.Delay)
				clock.Advance(ev.Delay)
				c = connectFake(t, r, fb, v, connect, &codec.Connack{SessionPresent: true})
				c.Expect(tt.resend)
				c.Expect("PUBLISH id=2 qos=1 dup t (1 B)")
				tt.finish(c)
				c.Send(&codec.Puback{PacketID: 2})
				done := map[uint16]int{}
				for i := 0; i < 2; i++ {
					ev := r.waitType(client.EventPublished)
					if ev.Err != nil {
						t.Fatal(ev.Err)
					}
					done[ev.ID]++
				}
				if done[1] != 1 || done[2] != 1 {
					t.Fatalf("completions %v", done)
				}
				r.Disconnect(0, codec.Properties{})
				c.Expect("DISCONNECT")
				c.ExpectEOF()
			})
		}
	}
}

func TestPingrespNeverComes(t *testing.T) {
	fb := fakebroker.Start(t)
	clock := simclock.New(epoch)
	r := start(t, client.Config{ClientID: "dev", KeepAlive: 10}, fb.Addr(), clock)
	r.Connect()
	c := connectFake(t, r, fb, codec.V5, `CONNECT v5.0 id="dev" keepalive=10`, &codec.Connack{})
	clock.Advance(10 * time.Second)
	c.Expect("PINGREQ")
	r.waitFor("PINGREQ sent", func(ev client.Event) bool { return ev.Type == client.EventSend })
	clock.Advance(5 * time.Second)
	ev := r.waitType(client.EventError)
	if ev.Err.Reason != codec.ReasonKeepAliveTimeout || !ev.Err.Fatal {
		t.Fatalf("error %v", ev.Err)
	}
	c.ExpectEOF()
	r.waitState(client.StateDisconnected)
}

func TestConnackRefusedBacksOff(t *testing.T) {
	fb := fakebroker.Start(t)
	clock := simclock.New(epoch)
	r := start(t, sessionCfg(codec.V5), fb.Addr(), clock)
	r.Connect()
	for i, max := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		c := fb.Accept(codec.V5)
		c.Expect(`CONNECT v5.0 id="dev" keepalive=0`)
		c.Send(&codec.Connack{ReasonCode: codec.ReasonBadUserNameOrPassword})
		c.ExpectEOF()
		e := r.waitType(client.EventError)
		if e.Err.Reason != codec.ReasonBadUserNameOrPassword || e.Err.Clause != "MQTT-3.2.2-7" {
			t.Fatalf("refusal %d: %v", i, e.Err)
		}
		ev := r.waitState(client.StateWaiting)
		if ev.Delay < max/2 || ev.Delay >= max {
			t.Fatalf("attempt %d delay %v, want [%v, %v)", i+1, ev.Delay, max/2, max)
		}
		waitArmed(t, clock, ev.Delay)
		clock.Advance(ev.Delay - time.Millisecond)
		time.Sleep(50 * time.Millisecond) // no tight loop: nothing dials before the delay
		if s := r.State(); s != client.StateWaiting {
			t.Fatalf("state %v before the delay ran out", s)
		}
		clock.Advance(time.Millisecond)
	}
}

// TestBrokerViolations: each protocol violation ends the connection with the
// right DISCONNECT on the wire (MQTT 5.0) and an error event naming the
// clause.
func TestBrokerViolations(t *testing.T) {
	tests := []struct {
		name       string
		cfg        func(*client.Config)
		connected  bool // CONNACK first
		setup      func(r *running, c *fakebroker.Conn)
		broker     func(c *fakebroker.Conn)
		disconnect string // DISCONNECT the broker must read ("" for none)
		clause     string
	}{
		{name: "CONNACK refused", broker: func(c *fakebroker.Conn) { c.Send(&codec.Connack{ReasonCode: codec.ReasonNotAuthorized}) },
			clause: "MQTT-3.2.2-7"},
		{name: "PUBLISH before CONNACK", broker: func(c *fakebroker.Conn) { c.Send(&codec.Publish{Topic: "x"}) },
			disconnect: "DISCONNECT Protocol Error", clause: "MQTT-3.2.0-1"},
		{name: "reserved bits set in CONNACK", broker: func(c *fakebroker.Conn) { c.SendHex("20 03 fe 00 00") },
			disconnect: "DISCONNECT Malformed Packet", clause: "3.2.2.1"},
		{name: "SUBACK with the wrong count of codes", connected: true,
			setup: func(r *running, c *fakebroker.Conn) {
				r.Subscribe([]codec.Subscription{{Filter: "a"}}, codec.Properties{})
				c.Expect("SUBSCRIBE id=1 a:0")
			},
			broker:     func(c *fakebroker.Conn) { c.Send(&codec.Suback{PacketID: 1, ReasonCodes: []codec.ReasonCode{0, 0}}) },
			disconnect: "DISCONNECT Protocol Error", clause: "MQTT-3.9.3-1"},
		{name: "ack for an unknown id", connected: true,
			broker:     func(c *fakebroker.Conn) { c.Send(&codec.Pubcomp{PacketID: 77}) },
			disconnect: "DISCONNECT Protocol Error", clause: "4.3.3"},
		{name: "unknown topic alias", connected: true,
			cfg: func(cfg *client.Config) {
				cfg.Properties.TopicAliasMaximum = 5
				cfg.Properties.Set(codec.PropTopicAliasMaximum)
			},
			broker: func(c *fakebroker.Conn) {
				// PUBLISH, topic "", Topic Alias 3 never defined.
				c.SendHex("30 06 00 00 03 23 00 03")
			},
			disconnect: "DISCONNECT Protocol Error", clause: "3.3.2.3.4"},
		{name: "Receive Maximum exceeded by the broker", connected: true,
			cfg: func(cfg *client.Config) {
				cfg.Properties.ReceiveMaximum = 1
				cfg.Properties.Set(codec.PropReceiveMaximum)
			},
			broker: func(c *fakebroker.Conn) {
				c.Send(&codec.Publish{Topic: "t", QoS: 2, PacketID: 1}, &codec.Publish{Topic: "t", QoS: 2, PacketID: 2})
				c.Expect("PUBREC id=1")
			},
			disconnect: "DISCONNECT Receive Maximum exceeded", clause: "MQTT-3.3.4-9"},
		{name: "stream ends mid-packet", connected: true,
			broker: func(c *fakebroker.Conn) { c.SendHex("30 10 00 01 74"); time.Sleep(20 * time.Millisecond); c.Close() },
			clause: "4.1"},
		{name: "garbage bytes", connected: true,
			broker:     func(c *fakebroker.Conn) { c.SendHex("00 ff ff ff ff 7f") },
			disconnect: "DISCONNECT Malformed Packet", clause: "MQTT-1.5.5-1"},
		{name: "reserved packet type", connected: true,
			broker:     func(c *fakebroker.Conn) { c.SendHex("00 00") },
			disconnect: "DISCONNECT Malformed Packet"},
		{name: "CONNECT from the broker", connected: true,
			broker:     func(c *fakebroker.Conn) { c.SendHex("10 0d 00 04 4d 51 54 54 05 02 00 00 00 00 00") },
			disconnect: "DISCONNECT Protocol Error", clause: "2.1.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fb := fakebroker.Start(t)
			cfg := client.Config{ClientID: "dev"}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			r := start(t, cfg, fb.Addr(), simclock.New(epoch))
			r.Connect()
			c := fb.Accept(codec.V5)
			c.Next()
			if tt.connected {
				c.Send(&codec.Connack{})
				r.waitState(client.StateConnected)
			}
			if tt.setup != nil {
				tt.setup(r, c)
			}
			tt.broker(c)
			if tt.disconnect != "" {
				d := c.Expect(tt.disconnect).(*codec.Disconnect)
				if d.Properties.ReasonString == "" {
					t.Errorf("DISCONNECT without a Reason String")
				}
			}
			if !strings.Contains(tt.name, "mid-packet") {
				c.ExpectEOF()
			}
			ev := r.waitType(client.EventError)
			if !ev.Err.Fatal || (tt.clause != "" && ev.Err.Clause != tt.clause) {
				t.Errorf("error event %v (clause %q), want clause %q", ev.Err, ev.Err.Clause, tt.clause)
			}
			r.waitState(client.StateDisconnected)
			t.Log(ev.Err)
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

// waitArmed waits for the client's backoff timer of d: the Waiting state
// event comes before the driver arms it, and a clock moved first would
// leave the timer a whole delay in the future.
func waitArmed(t *testing.T, clock *simclock.Clock, d time.Duration) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(time.Millisecond) {
		if at, ok := clock.Next(); ok && at.Equal(clock.Now().Add(d)) {
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no backoff timer of %v armed within 5 s", d)
		}
	}
}
