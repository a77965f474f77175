package netclient_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/client/netclient"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestRealBrokers runs the whole lifecycle against mochi and mosquitto over
// real sockets in both protocol versions: connect, subscribe, publish QoS
// 0/1/2 to ourselves (each delivered exactly once), keepalive PINGREQ,
// manual ping, unsubscribe, disconnect.
func TestRealBrokers(t *testing.T) {
	brokers := []struct {
		name  string
		start func(*testing.T) string
	}{{"mochi", func(t *testing.T) string { return testenv.Mochi(t) }}, {"mosquitto", newMosquitto}}
	for _, b := range brokers {
		for _, v := range []codec.Version{codec.V311, codec.V5} {
			t.Run(b.name+"/"+v.String(), func(t *testing.T) {
				t.Parallel()
				addr := b.start(t)
				testLifecycle(t, addr, v)
			})
		}
	}
}

func testLifecycle(t *testing.T, addr string, v codec.Version) {
	cfg := client.Config{Version: v, ClientID: "lifeline-test-" + strconv.Itoa(int(v)), KeepAlive: 2, CleanStart: true}
	if v == codec.V5 {
		cfg.Properties.TopicAliasMaximum = 4
		cfg.Properties.Set(codec.PropTopicAliasMaximum)
	}
	r := start(t, cfg, addr, netclient.Real())
	if err := r.Connect(); err != nil {
		t.Fatal(err)
	}
	r.waitState(client.StateConnected)
	sub, err := r.Subscribe([]codec.Subscription{{Filter: "lifeline/test/#", QoS: 2}}, codec.Properties{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := r.waitType(client.EventSubscribed); ev.ID != sub || len(ev.Reasons) != 1 || ev.Reasons[0] != 2 {
		t.Fatalf("SUBACK: %+v", ev)
	}
	ids := map[uint16]bool{}
	for q := codec.QoS(0); q <= 2; q++ {
		for i := 0; i < 2; i++ {
			id, err := r.Publish(client.Message{Topic: "lifeline/test/q" + strconv.Itoa(int(q)), Payload: []byte{'0' + byte(q), '0' + byte(i)}, QoS: q})
			if err != nil {
				t.Fatal(err)
			}
			if q > 0 {
				ids[id] = true
			}
		}
	}
	got := map[string]int{}
	for i := 0; i < 6; i++ {
		ev := r.waitType(client.EventMessage)
		m := ev.Message
		got[m.Topic+"="+string(m.Payload)]++
		if want := codec.QoS(m.Payload[0] - '0'); m.QoS != want {
			t.Errorf("message %s at QoS %d, want %d", m.Payload, m.QoS, want)
		}
	}
	for q := 0; q <= 2; q++ {
		for i := 0; i < 2; i++ {
			k := "lifeline/test/q" + strconv.Itoa(q) + "=" + strconv.Itoa(q) + strconv.Itoa(i)
			if got[k] != 1 {
				t.Errorf("%s delivered %d times", k, got[k])
			}
		}
	}
	// Every QoS 1/2 publish completes successfully.
	r.cursor = 0
	for len(ids) > 0 {
		ev := r.waitType(client.EventPublished)
		if ev.Err != nil || ev.Reason >= 0x80 || !ids[ev.ID] {
			t.Fatalf("published %+v (waiting for %v)", ev, ids)
		}
		delete(ids, ev.ID)
	}
	// Keepalive 2s: an idle client sends PINGREQ by itself (mochi drops
	// clients with a keepalive of 1s: its deadline rounds down).
	r.waitType(client.EventPong)
	time.Sleep(10 * time.Millisecond)
	for r.Ping() == client.ErrPingPending {
		time.Sleep(10 * time.Millisecond)
	}
	r.waitType(client.EventPong)
	un, _ := r.Unsubscribe([]string{"lifeline/test/#"}, codec.Properties{})
	if ev := r.waitType(client.EventUnsubscribed); ev.ID != un {
		t.Fatalf("UNSUBACK %+v", ev)
	}
	if err := r.Disconnect(0, codec.Properties{}); err != nil {
		t.Fatal(err)
	}
	r.waitState(client.StateDisconnected)
	for _, l := range r.lines() {
		if len(l) > 5 && l[:5] == "error" {
			t.Errorf("unexpected %s", l)
		}
	}
}
