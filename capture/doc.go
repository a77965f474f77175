// Package capture turns packet captures into Lifeline trace entries and back.
//
// Import: [Scan] streams a pcap or pcapng file (read with gopacket's pcapgo;
// Ethernet, Linux cooked v1 and v2, raw IP and BSD/Linux loopback link
// types; IPv4 and IPv6), reassembles every TCP stream (out-of-order and
// retransmitted segments, packets spanning segments and several packets per
// segment), finds MQTT on port 1883 and elsewhere by content (a CONNECT at
// the start of the stream, or an HTTP upgrade to WebSocket with the mqtt
// subprotocol, whose frames are unmasked and joined), reads DNS over UDP
// port 53 (or any port, in a frame a Lifeline export commented as DNS),
// and emits the same [trace.Entry] values a live session produces:
// dns.query and dns.response, tcp.syn/synack/ack/fin/rst with observed=wire,
// ws.upgrade/accept/close, and one mqtt.* entry per MQTT packet. Lanes are
// the endpoints' host:port; entries are grouped by connection (conn "c1",
// "c2", … in order of appearance); [Conn] records each connection's client
// id and the DNS name that resolved to its server. Malformed or truncated
// frames and packets become [Problem]s with their frame number; the rest of
// the file is still read. Memory follows the connections open at once, not
// the file, and is bounded by [Options]: bytes held per direction and per
// capture (out-of-order segments in a sorted deque and a heap, O(n log n)
// whatever the order), connections followed at once, pcapng interface
// blocks, problems listed; over a bound the capture says so by frame, or
// Scan stops with a [LimitError]. [ReadTrace] collects everything.
//
// Export: [WritePcapng] synthesizes Ethernet, IP, TCP and UDP framing
// around the entries' real DNS and MQTT bytes, so that stock Wireshark and
// tshark dissect DNS, TCP and MQTT with no setting: server ports are
// written as 1883 and 53, a WebSocket leg's MQTT as over TCP. Each frame's
// comment carries its entry's trace fields (real addresses included), and
// entries with nothing on the wire ride whole in the comment of a bare ACK,
// so that Scan reads an export back entry for entry, seq and t included.
//
// [Handler] serves both over HTTP for the page, streaming its answers, with
// limits on bodies, entries, connections and interface blocks, a body read
// deadline, and workers taken only once a body has arrived. The package runs on the
// server and in the CLI only: it must not be imported by the browser build
// (gopacket is large).
package capture
