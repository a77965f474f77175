package embedded

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func FuzzAnswer(f *testing.F) {
	d := &DNS{zone: Zone, ttl: 60, records: map[string][]netip.Addr{
		BrokerName: {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
	}}
	for _, name := range []string{"broker.lifeline.test.", "x.lifeline.test.", "example.com."} {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 1})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
		m, _ := b.Finish()
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		resp, err := d.answer(msg)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(resp)
		if err != nil {
			t.Fatalf("unparsable response to % x: %v", msg, err)
		}
		if !h.Response {
			t.Fatal("response without the QR bit")
		}
	})
}
