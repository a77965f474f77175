package netrec_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/lifeline-mqtt/lifeline/embedded"
	"github.com/lifeline-mqtt/lifeline/netrec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A Dialer resolving a name of the demo zone and connecting to a broker on
// loopback, as the CLI would use it: the entries tell the story.
func ExampleDialer() {
	zone, _ := embedded.StartDNS("127.0.0.1:0", embedded.Zone, nil)
	defer zone.Close()
	zone.Set(embedded.BrokerName, netip.MustParseAddr("127.0.0.1"))
	broker, _ := net.Listen("tcp", "127.0.0.1:0")
	defer broker.Close()
	go func() {
		if c, err := broker.Accept(); err == nil {
			c.Close()
		}
	}()

	var dns int
	d := &netrec.Dialer{
		Party: "client", Leg: trace.LegClientBroker,
		Zone: embedded.Zone, ZoneServer: zone.Addr().String(), Nameserver: zone.Addr().String(),
		Emit: func(e trace.Entry) {
			if strings.HasPrefix(e.Kind, "dns.") {
				dns++ // A and AAAA go out in parallel: their order varies
				return
			}
			fmt.Println(e.Leg, e.From, "→", e.To, e.Kind)
		},
	}
	_, port, _ := net.SplitHostPort(broker.Addr().String())
	c, res, err := d.Dial(context.Background(), embedded.BrokerName+":"+port, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Read(make([]byte, 1)) // the broker closes: FIN
	c.Close()
	fmt.Println("DNS messages:", dns, "resolved by:", res.Resolved, "to", res.Addr.Addr())
	// Output:
	// client-broker client → broker tcp.syn
	// client-broker broker → client tcp.synack
	// client-broker client → broker tcp.ack
	// client-broker broker → client tcp.fin
	// client-broker client → broker tcp.fin
	// DNS messages: 4 resolved by: dns to 127.0.0.1
}
