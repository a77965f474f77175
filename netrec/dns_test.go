package netrec

import (
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func buildMsg(t testing.TB, h dnsmessage.Header, answers ...[4]byte) []byte {
	b := dnsmessage.NewBuilder(nil, h)
	b.StartQuestions()
	name := dnsmessage.MustNewName("broker.lifeline.test.")
	b.Question(dnsmessage.Question{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAnswers()
	for _, a := range answers {
		b.AResource(dnsmessage.ResourceHeader{Name: name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a})
	}
	m, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSummarizeDNS(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		want string
	}{
		{"query", buildMsg(t, dnsmessage.Header{ID: 0x1234, RecursionDesired: true}), "query id 0x1234 A? broker.lifeline.test."},
		{"answer", buildMsg(t, dnsmessage.Header{ID: 0x1234, Response: true}, [4]byte{127, 0, 0, 1}),
			"response id 0x1234 NOERROR A broker.lifeline.test.: 127.0.0.1 (ttl 60)"},
		{"nxdomain", buildMsg(t, dnsmessage.Header{ID: 1, Response: true, RCode: dnsmessage.RCodeNameError}),
			"response id 0x0001 NXDOMAIN A broker.lifeline.test."},
		{"nodata", buildMsg(t, dnsmessage.Header{ID: 1, Response: true}),
			"response id 0x0001 NOERROR A broker.lifeline.test.: no records"},
		{"garbage", []byte{1, 2, 3}, "DNS message (3 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := summarizeDNS(tt.msg)
			if got != tt.want {
				t.Fatalf("summary %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzSummarizeDNS(f *testing.F) {
	f.Add(buildMsg(f, dnsmessage.Header{ID: 7, Response: true}, [4]byte{192, 0, 2, 1}, [4]byte{192, 0, 2, 2}))
	f.Add(buildMsg(f, dnsmessage.Header{ID: 7}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, _, _ := summarizeDNS(msg)
		if s == "" {
			t.Fatal("empty summary")
		}
	})
}

func TestAppendMessages(t *testing.T) {
	stream := []byte{0, 2, 'a', 'b', 0, 1, 'c', 0, 3, 'd'}
	for split := 0; split <= len(stream); split++ {
		var got []string
		var buf []byte
		each := func(m []byte) { got = append(got, string(m)) }
		buf = appendMessages(buf, stream[:split], each)
		buf = appendMessages(buf, stream[split:], each)
		if len(got) != 2 || got[0] != "ab" || got[1] != "c" || len(buf) != 3 {
			t.Fatalf("split at %d: messages %q, %d bytes left", split, got, len(buf))
		}
	}
}
