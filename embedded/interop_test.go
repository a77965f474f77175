package embedded_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/client/netclient"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/embedded"
)

// newTestBroker starts the embedded broker on 127.0.0.1:0 with the default
// limits; it stops with the test.
func newTestBroker(t *testing.T) *embedded.Broker {
	t.Helper()
	b, err := embedded.StartBroker("127.0.0.1:0", embedded.BrokerLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// mqttClient is our own client (client/netclient) connected to a broker,
// with every event it reported.
type mqttClient struct {
	t *testing.T
	*netclient.Client
	mu     sync.Mutex
	evs    []client.Event
	signal chan struct{}
}

// connect runs a client against addr and waits for its CONNACK.
func connect(t *testing.T, addr string, cfg client.Config) *mqttClient {
	t.Helper()
	c := &mqttClient{t: t, signal: make(chan struct{}, 1)}
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	c.Client = netclient.New(cfg, dial, netclient.Options{OnEvent: func(ev client.Event) {
		c.mu.Lock()
		c.evs = append(c.evs, ev)
		c.mu.Unlock()
		select {
		case c.signal <- struct{}{}:
		default:
		}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	if err := c.Connect(); err != nil {
		t.Fatal(err)
	}
	c.wait("CONNACK", func(ev client.Event) bool { return ev.Type == client.EventState && ev.State == client.StateConnected })
	return c
}

// wait returns the first event so far or to come that matches, waiting up
// to 5s.
func (c *mqttClient) wait(what string, match func(client.Event) bool) client.Event {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		for _, ev := range c.evs {
			if match(ev) {
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		select {
		case <-c.signal:
		case <-deadline:
			c.t.Fatalf("no %s within 5s; events:\n%s", what, c.log())
		}
	}
}

// received returns the packets of type pt that arrived so far.
func (c *mqttClient) received(pt codec.PacketType) []client.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []client.Event
	for _, ev := range c.evs {
		if ev.Type == client.EventReceive && ev.Packet != nil && ev.Packet.Type() == pt {
			out = append(out, ev)
		}
	}
	return out
}

// errors returns the client's error events so far.
func (c *mqttClient) errors() []client.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []client.Event
	for _, ev := range c.evs {
		if ev.Type == client.EventError {
			out = append(out, ev)
		}
	}
	return out
}

func (c *mqttClient) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, ev := range c.evs {
		b.WriteString(ev.Type.String())
		switch {
		case ev.Packet != nil:
			b.WriteString(" " + codec.Summary(ev.Packet))
		case ev.Err != nil:
			b.WriteString(" " + ev.Err.Text)
		case ev.Type == client.EventState:
			b.WriteString(" " + ev.State.String())
		}
		b.WriteString("\n")
	}
	return b.String()
}

// mochi answers an MQTT 5 PUBLISH that carries user properties with
// PUBACK reason 0x01 (its "Granted QoS 1", invalid in a PUBACK [3.4.2.1])
// unless NoInheritedPropertiesOnAck is set; the embedded broker sets it, so
// our client sees valid acks and stays connected.
func TestAcksToPublishWithUserProperties(t *testing.T) {
	b := newTestBroker(t)
	for _, qos := range []codec.QoS{1, 2} {
		t.Run("QoS"+string('0'+rune(qos)), func(t *testing.T) {
			c := connect(t, b.Addr().String(), client.Config{Version: codec.V5, ClientID: "props-" + string('0'+rune(qos)), CleanStart: true, KeepAlive: 30})
			id, err := c.Publish(client.Message{Topic: "lesson/props", Payload: []byte("hi"), QoS: qos,
				Properties: codec.Properties{User: []codec.UserProperty{{Key: "unit", Value: "celsius"}, {Key: "room", Value: "kitchen"}}}})
			if err != nil {
				t.Fatal(err)
			}
			done := c.wait("completion", func(ev client.Event) bool { return ev.Type == client.EventPublished && ev.ID == id })
			if done.Err != nil {
				t.Fatalf("publish failed: %s\n%s", done.Err.Text, c.log())
			}
			acks := []codec.PacketType{codec.TypePuback}
			if qos == 2 {
				acks = []codec.PacketType{codec.TypePubrec, codec.TypePubcomp}
			}
			for _, pt := range acks {
				got := c.received(pt)
				if len(got) != 1 {
					t.Fatalf("%d %v, want 1:\n%s", len(got), pt, c.log())
				}
				var rc codec.ReasonCode
				switch p := got[0].Packet.(type) {
				case *codec.Puback:
					rc = p.ReasonCode
				case *codec.Pubrec:
					rc = p.ReasonCode
				case *codec.Pubcomp:
					rc = p.ReasonCode
				}
				if rc != codec.ReasonSuccess && rc != codec.ReasonNoMatchingSubscribers {
					t.Fatalf("%v reason 0x%02x (% x), want 0x00 or 0x10", pt, byte(rc), got[0].Bytes)
				}
			}
			if errs := c.errors(); len(errs) != 0 {
				t.Fatalf("client errors:\n%s", c.log())
			}
			if s := c.State(); s != client.StateConnected {
				t.Fatalf("state %v after the acks, want connected:\n%s", s, c.log())
			}
		})
	}
}

// A v5 DISCONNECT with reason 0x04 (Disconnect with Will Message) makes the
// broker publish the will; mochi reads the reason code only when a property
// length follows it, which our codec therefore writes.
func TestDisconnectWithWillDeliversWill(t *testing.T) {
	b := newTestBroker(t)
	app := connect(t, b.Addr().String(), client.Config{Version: codec.V5, ClientID: "app", CleanStart: true, KeepAlive: 30})
	sub, err := app.Subscribe([]codec.Subscription{{Filter: "lesson/will", QoS: 1}}, codec.Properties{})
	if err != nil {
		t.Fatal(err)
	}
	app.wait("SUBACK", func(ev client.Event) bool { return ev.Type == client.EventSubscribed && ev.ID == sub })

	dev := connect(t, b.Addr().String(), client.Config{Version: codec.V5, ClientID: "device", CleanStart: true, KeepAlive: 30,
		Will: &client.Message{Topic: "lesson/will", Payload: []byte("device offline"), QoS: 1}})
	if err := dev.Disconnect(codec.ReasonDisconnectWithWill, codec.Properties{}); err != nil {
		t.Fatal(err)
	}
	sent := dev.wait("DISCONNECT", func(ev client.Event) bool {
		return ev.Type == client.EventSend && ev.Packet != nil && ev.Packet.Type() == codec.TypeDisconnect
	})
	if want := []byte{0xe0, 0x02, 0x04, 0x00}; string(sent.Bytes) != string(want) {
		t.Fatalf("DISCONNECT sent as % x, want % x", sent.Bytes, want)
	}
	msg := app.wait("the will", func(ev client.Event) bool { return ev.Type == client.EventMessage })
	if msg.Message.Topic != "lesson/will" || string(msg.Message.Payload) != "device offline" {
		t.Fatalf("app got %q on %q, want the will", msg.Message.Payload, msg.Message.Topic)
	}
}
