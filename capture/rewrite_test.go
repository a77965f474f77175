package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// frame is one packet of a capture being rewritten by a test.
type frame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// readFrames reads every frame of a pcap or pcapng file (Ethernet only).
func readFrames(t testing.TB, file string) []frame {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var next func() ([]byte, gopacket.CaptureInfo, error)
	var lt layers.LinkType
	if binary.LittleEndian.Uint32(b) == 0x0a0d0d0a {
		r, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatal(err)
		}
		next, lt = r.ReadPacketData, r.LinkType()
	} else {
		r, err := pcapgo.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		next, lt = r.ReadPacketData, r.LinkType()
	}
	if lt != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v, the rewriting tests need Ethernet", file, lt)
	}
	var out []frame
	for {
		data, ci, err := next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{ci, data})
	}
}

// writePcap writes frames as a pcap file of the given link type.
func writePcap(t testing.TB, frames []frame, lt layers.LinkType) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriterNanos(&buf)
	if err := w.WriteFileHeader(262144, lt); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		ci := f.ci
		ci.Length = len(f.data) + max(0, f.ci.Length-f.ci.CaptureLength) // keep a truncation
		ci.CaptureLength = len(f.data)
		if err := w.WritePacket(ci, f.data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func readTraceBytes(t *testing.T, b []byte) *Result {
	t.Helper()
	res, err := ReadTrace(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// relink replaces each Ethernet header with another link layer's.
func relink(t *testing.T, frames []frame, lt layers.LinkType) []frame {
	out := make([]frame, len(frames))
	for i, f := range frames {
		etype := binary.BigEndian.Uint16(f.data[12:14])
		ip := f.data[14:]
		var hdr []byte
		switch lt {
		case layers.LinkTypeRaw, layers.LinkTypeIPv4:
			hdr = nil
		case layers.LinkTypeNull: // host byte order family
			hdr = binary.LittleEndian.AppendUint32(nil, 2)
			if etype == 0x86dd {
				hdr = binary.LittleEndian.AppendUint32(nil, 10)
			}
		case layers.LinkTypeLoop: // network byte order family
			hdr = binary.BigEndian.AppendUint32(nil, 2)
		case layers.LinkTypeLinuxSLL:
			hdr = make([]byte, 16)
			binary.BigEndian.PutUint16(hdr[2:], 772) // ARPHRD_LOOPBACK
			binary.BigEndian.PutUint16(hdr[4:], 6)   // address length
			binary.BigEndian.PutUint16(hdr[14:], etype)
		case layers.LinkTypeLinuxSLL2:
			hdr = make([]byte, 20)
			binary.BigEndian.PutUint16(hdr[0:], etype)
			binary.BigEndian.PutUint32(hdr[4:], 1) // interface index
			binary.BigEndian.PutUint16(hdr[8:], 772)
			hdr[11] = 6
		default:
			t.Fatalf("relink to %v not written", lt)
		}
		out[i] = frame{f.ci, append(hdr, ip...)}
	}
	return out
}

// TestLinkTypes reads the same capture with every supported link layer.
func TestLinkTypes(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	frames := readFrames(t, file)
	want := readTraceBytes(t, writePcap(t, frames, layers.LinkTypeEthernet))
	if len(want.Entries) == 0 {
		t.Fatal("no entries")
	}
	for _, lt := range []layers.LinkType{layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeNull,
		layers.LinkTypeLoop, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2} {
		t.Run(lt.String(), func(t *testing.T) {
			got := readTraceBytes(t, writePcap(t, relink(t, frames, lt), lt))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("link type %v: trace differs from the Ethernet one\n got  %+v\n want %+v", lt, got.Problems, want.Problems)
				sameEntries(t, got.Entries, want.Entries)
			}
		})
	}
}

// toIPv6 rewrites IPv4 frames as IPv6, a.b.c.N becoming fd00::N.
func toIPv6(t *testing.T, frames []frame) []frame {
	var out []frame
	for _, f := range frames {
		p := gopacket.NewPacket(f.data, layers.LayerTypeEthernet, gopacket.Default)
		ip4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip4 == nil {
			t.Fatalf("frame without IPv4: %v", p)
		}
		v6 := func(a []byte) []byte {
			b := netip.MustParseAddr("fd00::").As16()
			b[15] = a[3]
			return b[:]
		}
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: ip4.Protocol, SrcIP: v6(ip4.SrcIP), DstIP: v6(ip4.DstIP)}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		eth.EthernetType = layers.EthernetTypeIPv6
		var l4 gopacket.SerializableLayer
		switch l := p.TransportLayer().(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(ip6)
			l4 = l
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(ip6)
			l4 = l
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip6, l4, gopacket.Payload(p.TransportLayer().LayerPayload())); err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{f.ci, bytes.Clone(buf.Bytes())})
	}
	return out
}

func TestIPv6(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	frames := readFrames(t, file)
	want := readTraceBytes(t, writePcap(t, frames, layers.LinkTypeEthernet))
	v6 := writePcap(t, toIPv6(t, frames), layers.LinkTypeEthernet)
	got := readTraceBytes(t, v6)
	if len(got.Problems) > 0 {
		t.Errorf("problems: %v", got.Problems)
	}
	if len(got.Entries) != len(want.Entries) {
		t.Fatalf("%d entries, want %d", len(got.Entries), len(want.Entries))
	}
	for i := range got.Entries {
		g, w := got.Entries[i], want.Entries[i]
		if g.Kind != w.Kind || !bytes.Equal(g.Bytes, w.Bytes) || g.Conn != w.Conn || !strings.HasPrefix(g.From, "[fd00::") {
			t.Errorf("entry %d: %s %s %x, want %s %s %x", i, g.Kind, g.From, g.Bytes, w.Kind, w.From, w.Bytes)
		}
	}
	if got.Conns[0].DNSName != "" {
		// The DNS answers are A records for IPv4 addresses: they must not
		// name the IPv6 connection.
		t.Errorf("conn %+v names a DNS answer for another address", got.Conns[0])
	}
	file6 := filepath.Join(t.TempDir(), "v6.pcap")
	if err := os.WriteFile(file6, v6, 0o644); err != nil {
		t.Fatal(err)
	}
	items, _ := scanFile(t, file6)
	checkAgainstTshark(t, file6, items, nil)
}

// mqttByConn lists each connection's MQTT packets per direction, keyed by
// its endpoints, to compare traces whose interleaving may differ.
func mqttByConn(entries []trace.Entry) map[string][]string {
	out := map[string][]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Kind, "mqtt.") || strings.HasPrefix(e.Kind, "ws.") {
			k := e.From + " > " + e.To
			out[k] = append(out[k], e.Kind+" "+string(e.Bytes))
		}
	}
	return out
}

// split cuts every TCP segment with payload into pieces of at most n
// bytes, each its own frame; reorder then delivers each segment's pieces
// last-first, and dup repeats the first piece after the others.
func split(t *testing.T, frames []frame, n int, reorder, dup bool) []frame {
	var out []frame
	for _, f := range frames {
		p := gopacket.NewPacket(f.data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil || len(tcp.Payload) <= n {
			out = append(out, f)
			continue
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		ip4 := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		payload := bytes.Clone(tcp.Payload)
		var pieces []frame
		for off := 0; off < len(payload); off += n {
			end := min(off+n, len(payload))
			seg := *tcp
			seg.Seq = tcp.Seq + uint32(off)
			seg.FIN = tcp.FIN && end == len(payload)
			ip := *ip4
			seg.SetNetworkLayerForChecksum(&ip)
			buf := gopacket.NewSerializeBuffer()
			if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
				eth, &ip, &seg, gopacket.Payload(payload[off:end])); err != nil {
				t.Fatal(err)
			}
			pieces = append(pieces, frame{f.ci, bytes.Clone(buf.Bytes())})
		}
		if reorder {
			for i, j := 0, len(pieces)-1; i < j; i, j = i+1, j-1 {
				pieces[i], pieces[j] = pieces[j], pieces[i]
			}
		}
		if dup {
			pieces = append(pieces, pieces[0])
		}
		out = append(out, pieces...)
	}
	return out
}

// checkResegmented reads file as captured and rewritten: split into small
// segments, out of order, with retransmissions; every connection's MQTT
// packets must come out the same.
func checkResegmented(t *testing.T, file string) {
	t.Helper()
	frames := readFrames(t, file)
	want := readTraceBytes(t, writePcap(t, frames, layers.LinkTypeEthernet))
	wantMQTT := mqttByConn(want.Entries)
	for _, c := range []struct {
		name          string
		n             int
		reorder, dups bool
	}{
		{"split-3", 3, false, false},
		{"split-1-reordered", 1, true, false},
		{"split-5-duplicated", 5, false, true},
		{"split-2-reordered-duplicated", 2, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := readTraceBytes(t, writePcap(t, split(t, frames, c.n, c.reorder, c.dups), layers.LinkTypeEthernet))
			if len(got.Problems) > 0 {
				t.Errorf("problems: %v", got.Problems)
			}
			if g := mqttByConn(got.Entries); !reflect.DeepEqual(g, wantMQTT) {
				t.Errorf("MQTT per connection differs:\n got  %q\n want %q", g, wantMQTT)
			}
			if !reflect.DeepEqual(got.Conns, want.Conns) {
				// Frame numbers move; the rest must not.
				for i := range min(len(got.Conns), len(want.Conns)) {
					g, w := got.Conns[i], want.Conns[i]
					g.Frame, w.Frame = 0, 0
					if g != w {
						t.Errorf("conn %d: %+v, want %+v", i, g, w)
					}
				}
			}
		})
	}
}

func TestResegmentedCapture(t *testing.T) {
	checkResegmented(t, testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
}
