package capture

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/diagram"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// TestExportKeepsTheUpgradeBeforeThePagesFrames exports, as the page does,
// the diagram model of a session whose page clock the ping misjudged by
// several ms either way: the proxy's 101 (a frame comment in the export)
// must come before the frame of the page's CONNECT in the pcapng, as it
// did on the wire.
func TestExportKeepsTheUpgradeBeforeThePagesFrames(t *testing.T) {
	connect, err := codec.AppendPacket(nil, &codec.Connect{Version: codec.V311, CleanStart: true, KeepAlive: 30, ClientID: "skewed"}, codec.V311)
	if err != nil {
		t.Fatal(err)
	}
	connack := []byte{0x20, 2, 0, 0}
	const off = 1000.0 // the server's clock runs this far ahead of the page's
	for _, skew := range []float64{-6, -3, 3, 6} {
		t.Run("ping off by "+strconv.FormatFloat(skew, 'g', -1, 64)+" ms", func(t *testing.T) {
			m := diagram.New(diagram.Options{})
			// A narrow ping that is wrong: offset off+skew ± 0.2.
			m.AddClockSample(diagram.Sample{Sent: 0, Received: 0.4, Server: off + skew + 0.2})
			e := func(at float64, leg, from, to, kind string, b []byte) trace.Entry {
				return trace.Entry{T: at, Leg: leg, From: from, To: to, Kind: kind, Bytes: b, Observed: trace.ObservedWire, Conn: "c1", Version: 4, Summary: kind}
			}
			bp, pb := trace.LegBrowserProxy, trace.LegProxyBroker
			for _, x := range []struct {
				e   trace.Entry
				src diagram.Source
			}{
				{e(off+1, bp, "browser", "proxy", trace.KindWSUpgrade, nil), diagram.Remote},
				{e(off+3, pb, "proxy", "broker", trace.KindTCPSyn, nil), diagram.Remote},
				{e(off+3.1, pb, "broker", "proxy", trace.KindTCPSynAck, nil), diagram.Remote},
				{e(off+3.2, pb, "proxy", "broker", trace.KindTCPAck, nil), diagram.Remote},
				{e(off+5, bp, "proxy", "browser", trace.KindWSAccept, nil), diagram.Remote},
				{e(5.2, bp, "browser", "proxy", "mqtt.CONNECT", connect), diagram.Local},
				{e(off+5.5, pb, "proxy", "broker", "mqtt.CONNECT", connect), diagram.Remote},
				{e(off+5.8, pb, "broker", "proxy", "mqtt.CONNACK", connack), diagram.Remote},
				{e(6.1, bp, "proxy", "browser", "mqtt.CONNACK", connack), diagram.Local},
			} {
				m.Add(x.e, x.src)
			}
			file := filepath.Join(t.TempDir(), "skewed.pcapng")
			f, err := os.Create(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := WritePcapng(f, m.Entries(), nil); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			// The upgrade and its 101 have no bytes on the wire in the export:
			// the 101 is a bare ACK carrying its entry in the frame comment.
			accept := tsharkStockRows(t, file, `frame.comment contains "\"kind\":\"ws.accept\""`, "frame.comment")
			conn := tsharkStockRows(t, file, `mqtt.msgtype == 1 && frame.comment contains "\"leg\":\"browser-proxy\""`, "mqtt.clientid")
			if len(accept) != 1 || len(conn) != 1 {
				t.Fatalf("tshark finds %d 101 responses and %d CONNECTs on the browser leg, want one of each: %+v %+v", len(accept), len(conn), accept, conn)
			}
			if accept[0].frame >= conn[0].frame {
				t.Errorf("the 101 is frame %d, the page's CONNECT frame %d: the CONNECT must follow the upgrade", accept[0].frame, conn[0].frame)
			}
			if id := conn[0].fields["mqtt.clientid"]; len(id) != 1 || id[0] != "skewed" {
				t.Errorf("the CONNECT's client id %q", id)
			}
		})
	}
}
