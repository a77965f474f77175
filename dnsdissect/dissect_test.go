package dnsdissect

import (
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// values collects each named field's values in the order tshark lists
// occurrences, skipping groups; every field must lie inside the message.
func values(t *testing.T, fs []codec.Field, size int, into map[string][]string) {
	t.Helper()
	for _, f := range fs {
		if f.Offset < 0 || f.Length < 0 || f.Offset+f.Length > size {
			t.Errorf("%s %q: @%d+%d outside the %d-byte message", f.Name, f.Label, f.Offset, f.Length, size)
		}
		if len(f.Children) > 0 {
			if f.Name != "" && f.Value != "" {
				into[f.Name] = append(into[f.Name], f.Value)
			}
			values(t, f.Children, size, into)
			continue
		}
		into[f.Name] = append(into[f.Name], f.Value)
	}
}

// TestAgainstTshark: every DNS message of the repository's captures, each
// field as tshark gives it (same names, same values, same occurrences), and
// tshark gives no field of ours that we leave out.
func TestAgainstTshark(t *testing.T) {
	names := []string{"dns.id", "dns.flags", "dns.flags.response", "dns.flags.opcode", "dns.flags.authoritative",
		"dns.flags.truncated", "dns.flags.recdesired", "dns.flags.recavail", "dns.flags.z", "dns.flags.authenticated",
		"dns.flags.checkdisable", "dns.flags.rcode", "dns.count.queries", "dns.count.answers", "dns.count.auth_rr",
		"dns.count.add_rr", "dns.qry.name", "dns.qry.type", "dns.qry.class", "dns.resp.name", "dns.resp.type",
		"dns.resp.class", "dns.resp.ttl", "dns.resp.len", "dns.a", "dns.aaaa", "dns.cname"}
	checked := 0
	for _, file := range testenv.Captures(t) {
		if !strings.HasSuffix(file, ".pcapng") && !strings.HasSuffix(file, ".pcap") {
			continue
		}
		args := []string{"-r", file, "-Y", "dns", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number"}
		for _, n := range names {
			args = append(args, "-e", n)
		}
		out, err := exec.Command(testenv.Tshark(t), args...).Output()
		if err != nil {
			t.Fatalf("tshark %s: %v", file, err)
		}
		want := map[int][]string{}
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			f := strings.Split(line, "\t")
			n, _ := strconv.Atoi(f[0])
			want[n] = f[1:]
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = capture.Scan(f, capture.Options{}, func(it capture.Item) error {
			e := it.Entry
			if e.Kind != trace.KindDNSQuery && e.Kind != trace.KindDNSResponse {
				return nil
			}
			w, ok := want[it.Frame]
			if !ok {
				t.Errorf("%s frame %d: tshark sees no DNS", file, it.Frame)
				return nil
			}
			checked++
			tree := Dissect(e.Bytes)
			if len(tree.Expert) > 0 {
				t.Errorf("%s frame %d: %+v", file, it.Frame, tree.Expert)
			}
			got := map[string][]string{}
			values(t, tree.Fields, len(e.Bytes), got)
			for i, n := range names {
				if g := strings.Join(got[n], "|"); g != w[i] {
					t.Errorf("%s frame %d %s: got %q, tshark %q", file, it.Frame, n, g, w[i])
				}
			}
			return nil
		})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if checked < 12 {
		t.Fatalf("checked %d DNS messages, want the captures' 36", checked)
	}
}

// FuzzDissect: any bytes give a tree without a panic, every field inside
// the message.
func FuzzDissect(f *testing.F) {
	f.Add([]byte{0xdf, 0xbe, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1})
	f.Add([]byte{0xdf, 0xbe, 0x85, 0x83, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1})
	f.Add([]byte{0, 1, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		tree := Dissect(b)
		values(t, tree.Fields, len(b), map[string][]string{})
		if len(tree.Fields) == 0 && len(tree.Expert) == 0 {
			t.Fatalf("%x: neither fields nor a note", b)
		}
		// Where dnsmessage reads the message whole, the names and
		// addresses agree with it.
		var p dnsmessage.Parser
		if _, err := p.Start(b); err != nil || len(tree.Expert) > 0 {
			return
		}
		want := map[string][]string{}
		qs, err := p.AllQuestions()
		if err != nil {
			return
		}
		for _, q := range qs {
			want["dns.qry.name"] = append(want["dns.qry.name"], wsName(q.Name))
			want["dns.qry.type"] = append(want["dns.qry.type"], strconv.Itoa(int(q.Type)))
		}
		as, err := p.AllAnswers()
		if err != nil {
			return
		}
		for _, a := range as {
			want["dns.resp.name"] = append(want["dns.resp.name"], wsName(a.Header.Name))
			switch r := a.Body.(type) {
			case *dnsmessage.AResource:
				want["dns.a"] = append(want["dns.a"], netip.AddrFrom4(r.A).String())
			case *dnsmessage.AAAAResource:
				want["dns.aaaa"] = append(want["dns.aaaa"], netip.AddrFrom16(r.AAAA).String())
			}
		}
		got := map[string][]string{}
		values(t, tree.Fields, len(b), got)
		for k, w := range want {
			g := got[k]
			if k == "dns.resp.name" {
				g = g[:min(len(g), len(w))] // later sections' records too
			}
			if strings.Join(g, "|") != strings.Join(w, "|") {
				t.Fatalf("%x: %s %q, dnsmessage %q", b, k, g, w)
			}
		}
	})
}

// TestSummaryAndNotes: the tree's name and summary say what the message
// is and, for an answer, its reply code; a broken message says where.
func TestSummaryAndNotes(t *testing.T) {
	for _, c := range []struct {
		name, treeName, summary, note string
		msg                           []byte
	}{
		{"query", "DNS query", "A b", "", []byte{0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'b', 0, 0, 1, 0, 1}},
		{"NXDOMAIN", "DNS response", "AAAA b → NXDOMAIN", "", []byte{0, 7, 0x85, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'b', 0, 0, 28, 0, 1}},
		{"short header", "DNS", "", "DNS header: ", []byte{0, 7, 1}},
		{"answer cut", "DNS response", "A b", "DNS Answers: ", []byte{0, 7, 0x85, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'b', 0, 0, 1, 0, 1, 0xc0, 12, 0, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree := Dissect(c.msg)
			note := ""
			if len(tree.Expert) > 0 {
				note = tree.Expert[0].Message
			}
			if tree.Name != c.treeName || tree.Summary != c.summary || (c.note == "") != (note == "") || !strings.HasPrefix(note, c.note) {
				t.Fatalf("name %q summary %q note %q; want %q %q %q…", tree.Name, tree.Summary, note, c.treeName, c.summary, c.note)
			}
		})
	}
}

func wsName(n dnsmessage.Name) string {
	s := strings.TrimSuffix(n.String(), ".")
	if s == "" {
		return "<Root>"
	}
	return s
}

// TestAddresses: IPv4 and IPv6 written as net/netip writes them.
func TestAddresses(t *testing.T) {
	for _, s := range []string{"10.203.0.10", "0.0.0.0", "255.255.255.255", "::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:1::1",
		"2001:0:0:1::", "fe80::1:0:0:0", "1:2:3:4:5:6:7:8", "::ffff:10.0.0.1", "1:0:2:0:3:0:4:0", "::2:3:4:5:6:7:8"} {
		a := netip.MustParseAddr(s)
		var got string
		if a.Is4() {
			b := a.As4()
			got = ipv4(b[:])
		} else {
			b := a.As16()
			got = ipv6(b[:])
		}
		if got != a.String() {
			t.Errorf("%s: got %s, netip %s", s, got, a)
		}
	}
}
