package embedded_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/client/netclient"
	"github.com/lifeline-mqtt/lifeline/codec"
)

// A will with a Will Delay Interval is published once the delay has passed
// after the connection is lost [MQTT-3.1.3-9], through the broker's own
// delivery (queue.go) like any other message: the timers lesson waits for it.
func TestWillDelayDeliversWill(t *testing.T) {
	b := newTestBroker(t)
	app := connect(t, b.Addr().String(), client.Config{Version: codec.V5, ClientID: "app", CleanStart: true, KeepAlive: 30})
	sub, err := app.Subscribe([]codec.Subscription{{Filter: "lesson/will", QoS: 1}}, codec.Properties{})
	if err != nil {
		t.Fatal(err)
	}
	app.wait("SUBACK", func(ev client.Event) bool { return ev.Type == client.EventSubscribed && ev.ID == sub })

	var props, wprops codec.Properties
	props.SessionExpiry = 60
	props.Set(codec.PropSessionExpiry)
	wprops.WillDelay = 1
	wprops.Set(codec.PropWillDelay)
	var conn net.Conn
	dial := func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", b.Addr().String())
		conn = c
		return c, err
	}
	connected := make(chan struct{}, 1)
	dev := netclient.New(client.Config{Version: codec.V5, ClientID: "device", CleanStart: true, KeepAlive: 30,
		Properties: props, Will: &client.Message{Topic: "lesson/will", Payload: []byte("device offline"), QoS: 1, Properties: wprops}},
		dial, netclient.Options{OnEvent: func(ev client.Event) {
			if ev.Type == client.EventState && ev.State == client.StateConnected {
				connected <- struct{}{}
			}
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); dev.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := dev.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("the device did not connect")
	}
	start := time.Now()
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close() // lost without DISCONNECT
	msg := app.wait("the delayed will", func(ev client.Event) bool { return ev.Type == client.EventMessage })
	if msg.Message.Topic != "lesson/will" || string(msg.Message.Payload) != "device offline" {
		t.Fatalf("app got %q on %q, want the will", msg.Message.Payload, msg.Message.Topic)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("the will came %v after the cut, before its 1 s delay", d)
	}
}
