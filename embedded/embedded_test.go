package embedded_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/embedded"
)

func newZone(t *testing.T) *embedded.DNS {
	t.Helper()
	z, err := embedded.StartDNS("127.0.0.1:0", embedded.Zone, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { z.Close() })
	return z
}

// ask sends one query for name and type to the zone and parses the answer.
func ask(t *testing.T, z *embedded.DNS, name string, typ dnsmessage.Type) (dnsmessage.Header, []dnsmessage.Resource) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0xbeef, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
	q, _ := b.Finish()
	c, err := net.Dial("udp", z.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write(q); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	p.SkipAllQuestions()
	as, err := p.AllAnswers()
	if err != nil {
		t.Fatal(err)
	}
	return h, as
}

func TestZoneAnswers(t *testing.T) {
	z := newZone(t)
	z.Set("broker.lifeline.test", netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"))
	tests := []struct {
		name    string
		typ     dnsmessage.Type
		rcode   dnsmessage.RCode
		answers int
	}{
		{"broker.lifeline.test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, 1},
		{"BROKER.Lifeline.Test.", dnsmessage.TypeA, dnsmessage.RCodeSuccess, 1},
		{"broker.lifeline.test.", dnsmessage.TypeAAAA, dnsmessage.RCodeSuccess, 1},
		{"broker.lifeline.test.", dnsmessage.TypeMX, dnsmessage.RCodeSuccess, 0},
		{"nope.lifeline.test.", dnsmessage.TypeA, dnsmessage.RCodeNameError, 0},
		{"example.com.", dnsmessage.TypeA, dnsmessage.RCodeRefused, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name+tt.typ.String(), func(t *testing.T) {
			h, as := ask(t, z, tt.name, tt.typ)
			if h.ID != 0xbeef || !h.Response || h.RCode != tt.rcode || len(as) != tt.answers {
				t.Fatalf("header %+v, %d answers; want rcode %v and %d answers", h, len(as), tt.rcode, tt.answers)
			}
		})
	}
}

// Go's own resolver, pointed at the zone, finds the broker.
func TestZoneWithGoResolver(t *testing.T) {
	z := newZone(t)
	z.Set(embedded.BrokerName, netip.MustParseAddr("127.0.0.1"))
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, z.Addr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip4", embedded.BrokerName)
	if err != nil || len(addrs) != 1 || addrs[0] != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("lookup = %v, %v", addrs, err)
	}
}

func TestBrokerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = embedded.StartBroker(ln.Addr().String(), embedded.BrokerLimits{}, nil)
	if !errors.Is(err, embedded.ErrAddrInUse) {
		t.Fatalf("StartBroker on a taken port: %v, want ErrAddrInUse", err)
	}
}

func TestBrokerServes(t *testing.T) {
	b, err := embedded.StartBroker("127.0.0.1:0", embedded.BrokerLimits{MaxPacketSize: 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0})
	buf := make([]byte, 4)
	if _, err := c.Read(buf); err != nil || buf[0] != 0x20 || buf[3] != 0 {
		t.Fatalf("CONNACK % x, %v", buf, err)
	}
	// A packet over the limit ends the connection.
	big := append([]byte{0x30, 100, 0, 1, 'a'}, make([]byte, 97)...)
	c.Write(big)
	if _, err := c.Read(buf); err == nil {
		t.Fatal("the broker kept a connection that sent a packet over its limit")
	}
}
