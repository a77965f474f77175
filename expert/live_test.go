package expert_test

import (
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/expert"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// recorder speaks raw MQTT to a real broker over TCP and records both
// directions as trace entries, as lifeline trace would.
type recorder struct {
	t       *testing.T
	c       net.Conn
	v       codec.Version
	start   time.Time
	split   *codec.Splitter
	closed  bool
	entries []trace.Entry
}

func dialRecorder(t *testing.T, addr string, v codec.Version) *recorder {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &recorder{t: t, c: c, v: v, start: time.Now(), split: codec.NewSplitter(1 << 20)}
}

func (r *recorder) record(from, to string, b []byte) {
	typ := codec.PacketType(b[0] >> 4).String()
	r.entries = append(r.entries, trace.Entry{Seq: len(r.entries) + 1, T: float64(time.Since(r.start).Microseconds()) / 1000,
		Leg: trace.LegClientBroker, From: from, To: to, Kind: trace.KindMQTT(typ), Bytes: append([]byte(nil), b...),
		Observed: trace.ObservedWire, Conn: "c1", Version: int(r.v)})
}

// send writes p and records it; then reads what the broker sends within
// wait, recording each packet.
func (r *recorder) send(p codec.Packet, wait time.Duration) {
	r.t.Helper()
	b, err := codec.AppendPacket(nil, p, r.v)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendRaw(b, wait)
}

func (r *recorder) sendRaw(b []byte, wait time.Duration) {
	r.t.Helper()
	if r.closed {
		return
	}
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
	r.record(r.c.LocalAddr().String(), r.c.RemoteAddr().String(), b)
	r.read(wait)
}

func (r *recorder) read(wait time.Duration) {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(wait)
	for !r.closed {
		r.c.SetReadDeadline(deadline)
		n, err := r.c.Read(buf)
		if n > 0 {
			r.split.Write(buf[:n])
			for {
				pkt, ok, err := r.split.Next()
				if err != nil {
					r.t.Fatal(err)
				}
				if !ok {
					break
				}
				r.record(r.c.RemoteAddr().String(), r.c.LocalAddr().String(), pkt)
			}
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			r.closed = true
		}
	}
}

func publishAliased(topic string, alias uint16) *codec.Publish {
	p := &codec.Publish{Topic: topic, Payload: []byte("21.5")}
	p.Properties.TopicAlias = alias
	p.Properties.Set(codec.PropTopicAlias)
	return p
}

// script plays the same MQTT 5.0 session against a broker: subscribe at
// QoS 2 to a filter nothing is published to, clear a retained message,
// set a topic alias and use it, then use an alias never set.
func script(t *testing.T, addr string) (*recorder, []expert.Finding) {
	r := dialRecorder(t, addr, codec.V5)
	const wait = 2 * time.Second
	const short = 300 * time.Millisecond
	r.send(&codec.Connect{Version: codec.V5, CleanStart: true, KeepAlive: 60, ClientID: "expert-live"}, short)     // #1, CONNACK #2
	r.send(&codec.Subscribe{PacketID: 1, Subscriptions: []codec.Subscription{{Filter: "other/#", QoS: 2}}}, short) // #3, SUBACK #4
	r.send(&codec.Publish{QoS: 1, PacketID: 2, Retain: true, Topic: "expert/retained"}, short)                     // #5, PUBACK #6
	r.send(publishAliased("expert/a", 1), short)                                                                   // #7
	r.send(publishAliased("", 1), short)                                                                           // #8
	r.send(publishAliased("", 2), wait)                                                                            // #9: never set
	if len(r.entries) < 9 {
		t.Fatalf("only %d packets: %v", len(r.entries), r.entries)
	}
	for _, e := range r.entries {
		t.Logf("#%d %s %x", e.Seq, e.Kind, e.Bytes)
	}
	fs := expert.Analyze(r.entries, expert.Options{})
	for _, f := range fs {
		t.Log(f)
	}
	return r, fs
}

func briefs(fs []expert.Finding) string {
	var s []string
	for _, f := range fs {
		line := f.Severity.String() + " " + f.Code
		for _, q := range f.Seq {
			line += " #" + strconv.Itoa(q)
		}
		s = append(s, line)
	}
	return strings.Join(s, "\n")
}

// Both brokers grant QoS 2, acknowledge the empty retained PUBLISH (mochi
// with a bare PUBACK, mosquitto with 0x10 No matching subscribers, not a
// failure) and accept alias 1. They differ on the rest:
//
//   - mosquitto 2.0 announces Topic Alias Maximum 10 in CONNACK, and
//     answers alias 2, used before it was set, with DISCONNECT 0x82
//     Protocol Error (#10), then closes.
//   - mochi 2.7 (the embedded broker) enforces its Topic Alias Maximum (64
//     in embedded.BrokerLimits) but does not announce it in CONNACK, so by
//     the rules the client may use no alias at all: each aliased PUBLISH is
//     beyond the maximum of 0 the client was given. It takes alias 2 without
//     a word and keeps the connection.
const common = "note retain.cleared #5\nchat alias.set #7\nerror alias.unknown #9"

// TestLiveMochi: the embedded broker (mochi).
func TestLiveMochi(t *testing.T) {
	b, err := embedded.StartBroker("127.0.0.1:0", embedded.BrokerLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	r, fs := script(t, b.Addr().String())
	want := "note retain.cleared #5\nerror alias.maximum #7\nchat alias.set #7\nerror alias.maximum #8\n" +
		"error alias.maximum #9\nerror alias.unknown #9"
	var ack codec.Connack
	if err := ack.Decode(r.entries[1].Bytes, codec.V5); err != nil {
		t.Fatal(err)
	}
	if ack.Properties.Has(codec.PropTopicAliasMaximum) {
		// A mochi that announces its maximum: only the unknown alias.
		want = common
	}
	if got := briefs(fs); got != want {
		t.Errorf("findings:\n%s\nwant:\n%s", got, want)
	}
}

// TestLiveMosquitto: Debian's mosquitto.
func TestLiveMosquitto(t *testing.T) {
	m := testenv.StartMosquitto(t, testenv.MosquittoOptions{})
	_, fs := script(t, m.Addr)
	if got, want := briefs(fs), common+"\nwarning reason.failure #10"; got != want {
		t.Errorf("findings:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(fs[len(fs)-1].Text, "0x82 Protocol Error") {
		t.Errorf("last finding %q, want mosquitto's DISCONNECT 0x82", fs[len(fs)-1].Text)
	}
}
