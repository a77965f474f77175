package codec

import (
	"reflect"
	"testing"
)

func TestPeek(t *testing.T) {
	long := string(make([]byte, 300))
	tests := []struct {
		name  string
		b     []byte
		typ   PacketType // 0: no whole header
		id    int        // -1: none
		qos   int        // -1: not a PUBLISH
		level int        // 0: not a CONNECT's
		ka    int        // -1: none
		cid   string     // "-": none
		rc    int        // -1: none
	}{
		{"CONNECT 3.1.1", mustAppend(t, &Connect{Version: V311, KeepAlive: 300, ClientID: "dev1"}, V311), TypeConnect, -1, -1, 4, 300, "dev1", -1},
		{"CONNECT 5.0 with properties", mustAppend(t, &Connect{Version: V5, KeepAlive: 60, ClientID: "d5", Properties: Properties{Present: 1 << PropSessionExpiry, SessionExpiry: 30}}, V5), TypeConnect, -1, -1, 5, 60, "d5", -1},
		{"CONNECT 3.1 (MQIsdp)", []byte{0x10, 0x0e, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 0}, TypeConnect, -1, -1, 3, 60, "", -1},
		{"CONNECT cut after the name", []byte{0x10, 0x02, 0, 4}, TypeConnect, -1, -1, 0, -1, "-", -1},
		{"CONNECT 5.0 cut in its properties", []byte{0x10, 0x0b, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0x05}, TypeConnect, -1, -1, 5, 60, "-", -1},
		{"PUBLISH QoS 0 has no id", mustAppend(t, &Publish{Topic: "a/b", Payload: []byte("x")}, V311), TypePublish, -1, 0, 0, -1, "-", -1},
		{"PUBLISH QoS 2 id after the topic", mustAppend(t, &Publish{QoS: 2, PacketID: 0x1234, Topic: "a/b"}, V311), TypePublish, 0x1234, 2, 0, -1, "-", -1},
		{"PUBLISH two-byte length", mustAppend(t, &Publish{QoS: 1, PacketID: 77, Topic: "t", Payload: []byte(long)}, V311), TypePublish, 77, 1, 0, -1, "-", -1},
		{"PUBACK 3.1.1", mustAppend(t, &Puback{PacketID: 9}, V311), TypePuback, 9, -1, 0, -1, "-", -1},
		{"PUBREC 5.0 failed", mustAppend(t, &Pubrec{PacketID: 9, ReasonCode: 0x87}, V5), TypePubrec, 9, -1, 0, -1, "-", 0x87},
		{"PUBREL", mustAppend(t, &Pubrel{PacketID: 65535}, V311), TypePubrel, 65535, -1, 0, -1, "-", -1},
		{"SUBSCRIBE", mustAppend(t, &Subscribe{PacketID: 4, Subscriptions: []Subscription{{Filter: "a/#"}}}, V311), TypeSubscribe, 4, -1, 0, -1, "-", -1},
		{"UNSUBACK", mustAppend(t, &Unsuback{PacketID: 5}, V311), TypeUnsuback, 5, -1, 0, -1, "-", -1},
		{"PINGREQ", []byte{0xc0, 0}, TypePingreq, -1, -1, 0, -1, "-", -1},
		{"trailing bytes are ignored", append(mustAppend(t, &Puback{PacketID: 3}, V311), 0xff), TypePuback, 3, -1, 0, -1, "-", -1},
		{"truncated PUBLISH", mustAppend(t, &Publish{QoS: 1, PacketID: 5, Topic: "abc"}, V311)[:6], 0, -1, -1, 0, -1, "-", -1},
		{"remaining length longer than the bytes", []byte{0x40, 5, 0, 1}, 0, -1, -1, 0, -1, "-", -1},
		{"five-byte remaining length", []byte{0x40, 0xff, 0xff, 0xff, 0xff, 0x7f}, 0, -1, -1, 0, -1, "-", -1},
		{"one byte", []byte{0x30}, 0, -1, -1, 0, -1, "-", -1},
		{"empty", nil, 0, -1, -1, 0, -1, "-", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if typ, ok := PeekType(tt.b); typ != tt.typ || ok != (tt.typ != 0) {
				t.Errorf("PeekType = %v, %v; want %v", typ, ok, tt.typ)
			}
			if id, ok := PeekPacketID(tt.b); ok != (tt.id >= 0) || ok && int(id) != tt.id {
				t.Errorf("PeekPacketID = %d, %v; want %d", id, ok, tt.id)
			}
			if q, ok := PeekQoS(tt.b); ok != (tt.qos >= 0) || ok && int(q) != tt.qos {
				t.Errorf("PeekQoS = %d, %v; want %d", q, ok, tt.qos)
			}
			if l, ok := PeekLevel(tt.b); ok != (tt.level != 0) || int(l) != tt.level {
				t.Errorf("PeekLevel = %d, %v; want %d", l, ok, tt.level)
			}
			if ka, ok := PeekKeepAlive(tt.b); ok != (tt.ka >= 0) || ok && int(ka) != tt.ka {
				t.Errorf("PeekKeepAlive = %d, %v; want %d", ka, ok, tt.ka)
			}
			if id, ok := PeekClientID(tt.b); ok != (tt.cid != "-") || ok && string(id) != tt.cid {
				t.Errorf("PeekClientID = %q, %v; want %q", id, ok, tt.cid)
			}
			if rc, ok := PeekReasonCode(tt.b); ok != (tt.rc >= 0) || ok && int(rc) != tt.rc {
				t.Errorf("PeekReasonCode = %#x, %v; want %#x", rc, ok, tt.rc)
			}
		})
	}
}

// TestPeekClientID reads the client id of CONNECTs of both versions, and
// nothing from a cut one.
func TestPeekClientID(t *testing.T) {
	for _, v := range []Version{V311, V5} {
		for _, id := range []string{"device01", "", "ü-client"} {
			b := mustAppend(t, &Connect{Version: v, KeepAlive: 30, ClientID: id, CleanStart: true}, v)
			if got, ok := PeekClientID(b); !ok || string(got) != id {
				t.Errorf("v%d %q: got %q, %v", v, id, got, ok)
			}
			if _, ok := PeekClientID(b[:len(b)-1]); ok {
				t.Errorf("v%d %q: a cut CONNECT gave an id", v, id)
			}
		}
	}
}

func TestPeekAllocatesNothing(t *testing.T) {
	connect := mustAppend(t, &Connect{Version: V5, KeepAlive: 60, ClientID: "dev1"}, V5)
	publish := mustAppend(t, &Publish{QoS: 1, PacketID: 7, Topic: "a/b", Payload: []byte("x")}, V5)
	n := testing.AllocsPerRun(100, func() {
		PeekType(publish)
		PeekPacketID(publish)
		PeekQoS(publish)
		PeekReasonCode(publish)
		PeekLevel(connect)
		PeekKeepAlive(connect)
		PeekClientID(connect)
	})
	if n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

// FuzzPeek: peeks never panic, and where the packet decodes they agree
// with Decode.
func FuzzPeek(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte, vb byte) {
		v := fuzzVersion(vb)
		typ, typOK := PeekType(b)
		id, idOK := PeekPacketID(b)
		qos, qosOK := PeekQoS(b)
		rc, rcOK := PeekReasonCode(b)
		level, levelOK := PeekLevel(b)
		ka, kaOK := PeekKeepAlive(b)
		cid, cidOK := PeekClientID(b)
		if cidOK && len(cid) > len(b) {
			t.Fatalf("client id of %d bytes from %d", len(cid), len(b))
		}
		_, _, body, ok := PeekHeader(b)
		if !ok {
			return
		}
		p, err := Decode(b[:body+remaining(b, body)], v)
		if err != nil {
			return
		}
		if !typOK || typ != p.Type() {
			t.Fatalf("PeekType = %v, %v; Decode says %v", typ, typOK, p.Type())
		}
		if f := reflect.ValueOf(p).Elem().FieldByName("PacketID"); f.IsValid() {
			pub, isPub := p.(*Publish)
			if want := !isPub || pub.QoS > 0; idOK != want || idOK && uint64(id) != f.Uint() {
				t.Fatalf("PeekPacketID = %d, %v; Decode says %d", id, idOK, f.Uint())
			}
		} else if idOK {
			t.Fatalf("PeekPacketID = %d for a %v", id, p.Type())
		}
		if pub, ok := p.(*Publish); ok != qosOK || ok && pub.QoS != qos {
			t.Fatalf("PeekQoS = %d, %v for %+v", qos, qosOK, p)
		}
		if f := reflect.ValueOf(p).Elem().FieldByName("ReasonCode"); rcOK && (!f.IsValid() || ReasonCode(f.Uint()) != rc) {
			t.Fatalf("PeekReasonCode = %#x for %+v", rc, p)
		}
		if c, ok := p.(*Connect); ok {
			if !levelOK || level != c.Version || !kaOK || ka != c.KeepAlive || !cidOK || string(cid) != c.ClientID {
				t.Fatalf("peeks %d %v, %d %v, %q %v; Decode says %+v", level, levelOK, ka, kaOK, cid, cidOK, c)
			}
		}
	})
}

// remaining is the Remaining Length of the packet whose variable header
// starts at body.
func remaining(b []byte, body int) int {
	n, _, _ := readVarint(b, 1)
	return n
}
