// Package proxy is Lifeline's WebSocket-to-TCP proxy for MQTT: the page's
// MQTT-over-WebSocket connection (GET /mqtt) becomes a TCP or TLS connection
// to the broker, bytes unchanged, after a policy check on the resolved
// address. Every step the browser cannot see — the DNS messages, the TCP
// handshake and close, TLS, the broker leg's MQTT packets split on their
// boundaries — is reported on the page's trace side channel (GET /trace) or,
// for clients that opened none, to the log.
//
// The proxy is built to be left running: every check that can refuse a
// request (Host, method, upgrade headers, Origin, subprotocol, limits,
// token, the target's syntax and name) comes before any DNS query or dial;
// an allowlist; refusal of private and loopback addresses and of the
// machine's own (DNS rebinding included); per-IP and total connection
// limits; a maximum message size; idle, handshake, write and partial-packet
// timeouts; and bounded buffers with backpressure both ways (a slow reader
// on one side stops the proxy reading the other). A broker parameter that is
// not HOST:PORT (most often a name without its port) is closed with
// CloseBadTarget (4002), saying what is missing; a policy refusal with 1008;
// a message or packet over Config.MaxMessage with 1009, after the rest of it
// is read and dropped so that the close frame reaches the page.
//
// It does not look inside packets beyond their fixed header and the CONNECT's
// protocol level, and it never changes a byte.
//
// # Closing
//
// When the page closes its WebSocket (a close frame, or its connection lost),
// every byte already received from it is written to the broker, then the
// proxy half-closes (its FIN: nothing more will come), waits up to
// Config.CloseWait for the broker to close its side, and only then closes the
// broker connection and answers the page's close. An mqtt.* entry from proxy
// to broker is emitted only once the packet's last byte is written to the
// broker's socket; broker-to-proxy entries are emitted for bytes read.
//
// When the broker closes first (or the proxy ends the session), everything
// read from the broker is relayed, then the page gets a close frame, and the
// proxy reads and drops what the page still sends until its close frame
// answers (at most a second) before closing the TCP connection: as over
// TCP, where the kernel takes what a client writes after the broker closed
// (mqtt.js writes its PUBCOMP after its DISCONNECT when it ends in a QoS 2
// message's handler), the page is not reset under its last writes (EPIPE).
//
// # The trace channel
//
// A session to the embedded broker (Config.Broker) also carries the
// broker's own reports about its client (the client id of its CONNECT):
// broker.drop entries (trace.KindBrokerDrop) on the proxy-broker leg, from
// and to "broker", one for each message the broker dropped for the client
// or did not retain from it, with the reason and the counts in their drop
// field (brokerdrops.go).
//
// GET /trace[?session=ID][&batch=1|2|3] is a WebSocket of JSON text messages. The server
// sends:
//
//	{"type":"hello","token":"<32 hex>","serverTime":<ms>}  first, once
//	                                  (with "session":ID when one was sent)
//	{"type":"entry","entry":{…trace.Entry…}}                 one per event
//	{"type":"pong","t":<the page's t>,"serverTime":<ms>}    answer to ping
//	{"type":"dropped","count":N}                             see below
//	{"type":"cut","conn":"c1","ok":true}                     answer to cut
//	{"type":"cut","conn":"c1","ok":false,"error":"<why>"}
//
// Each is one WebSocket text message, or, for a reader that asks with
// /trace?batch=1, the messages of one write share a text message, a line
// each (JSON holds no raw newline), the same bytes in the same order;
// batch=2 is the same lines in a binary message (UTF-8, as the text would
// be); batch=3 (the page's) binary messages of records, a packet's entry
// its bytes raw with its seq, t and the id of a shape sent once
// (pagejson.Compact, docs/trace.md); batch=0 is the default, any other
// value is refused (1008).
//
// "dropped" says messages were lost: a channel holds at most 4 MiB (or 4096
// messages) unsent, and the proxy drops messages beyond that rather than slow
// the sessions down. It is sent where the loss happened: after the messages
// queued before it, before the first one queued after it; N is how many were
// dropped in a row. Dropped entries keep their seq numbers, so the entries
// that follow show the gap. The entries are encoded off the relay's path,
// and a burst of them goes out in one write.
// When the server shuts down, its sessions are closed first (1001), then
// each channel sends what it holds, their closes among it, and closes with
// 1001 too.
//
// The page may send:
//
//	{"type":"ping","t":<page ms>}
//	{"type":"cut","conn":"c1"}
//
// # Sessions behind a load balancer
//
// Several instances can serve one site behind a balancer that hashes one
// URL parameter (HAProxy's balance url_param, nginx's hash $arg_session):
// the page picks a session id — 128 random bits as 32 lowercase hex digits
// (CheckSessionID) — and sends it as session= on /trace and on every
// /mqtt, with the channel's token as trace=. The instance holding the
// session serves the /mqtt on that channel only. Any other is refused before
// a dial, with a close frame in words: a session this instance does not
// hold, or whose channel has ended, with CloseSessionElsewhere (4001); a
// malformed id, an id already used on this instance (open, or ended within
// the last hour), or a token that is not the session's own (forged, or
// another page's), with 1008. The id routes; the token, which only the page
// that opened the channel has read, binds.
//
// "cut" aborts the broker connection of the /mqtt session conn, which must
// have been opened with this channel's token (another channel's sessions are
// out of reach: the answer is ok false). The proxy resets the TCP connection
// (SO_LINGER 0, so an RST; no DISCONNECT is sent and unsent bytes are
// dropped), as a device losing power would, so the broker publishes the
// session's will; the trace shows tcp.rst from proxy to broker (observed
// kernel; stamped just before the reset, so never after the will it causes,
// which may arrive on another connection of the channel), and the page's /mqtt WebSocket is closed with code CloseCut (4000)
// and reason CutReason ("cut by request: abrupt close, no DISCONNECT"). A
// session that has not reached the broker yet, or has ended, answers ok false.
//
// # The lab bench
//
// The page may also drive the MQTT packets of its own sessions (same rule
// as cut: only the channel whose token opened the session):
//
//	{"type":"lab","id":<any>,"conn":"c1","op":"hold","dir":"toPage","types":["PUBACK"]}
//	{"type":"lab","id":…,"conn":"c1","op":"hold","dir":"toBroker","types":["PUBLISH"],"topic":"a/+"}
//	{"type":"lab","id":…,"conn":"c1","op":"pause","dir":"toBroker"}   dir may be omitted: both ways
//	{"type":"lab","id":…,"conn":"c1","op":"step"}                     the oldest held packet (of dir, if given)
//	{"type":"lab","id":…,"conn":"c1","op":"release"}                  all held, in order (of dir, if given)
//	{"type":"lab","id":…,"conn":"c1","op":"resume"}                   clears holds and pause (of dir, if given) and silence; releases what they held
//	{"type":"lab","id":…,"conn":"c1","op":"drop","dir":"toBroker","types":["PUBACK"],"count":1}
//	{"type":"lab","id":…,"conn":"c1","op":"delay","dir":"toPage","ms":300}   0 to 5000 ms
//	{"type":"lab","id":…,"conn":"c1","op":"silence"}
//	{"type":"lab","id":…,"conn":"c1","op":"state"}
//
// Each is answered {"type":"lab","id":…,"conn":…,"op":…,"ok":true,"state":{…}}
// (LabState: held and queued packets per direction, queued bytes and their
// bound, holds, pauses, silence, delays, drops), or "ok":false with an
// "error" in words, and nothing changed: another channel's or an unknown
// session, an unknown op, direction or packet type, a topic on a filter
// without PUBLISH, a delay out of range, step with nothing held, a session
// that has ended.
//
// hold keeps the packets its filter selects (types by name, "*" for all;
// a topic filter selects PUBLISH packets by topic) at the proxy; the other
// packets of the direction pass them. pause holds every packet of a
// direction, silence every packet both ways while both TCP connections stay
// open. drop swallows the next count packets a filter selects: read, never
// forwarded, TCP untouched. delay adds a fixed latency to a direction;
// packets never overtake one another. The lab works on whole packets, from
// the first packet boundary after the first control; the bytes it holds or
// delays for a session are bounded (Config.LabBytes, -lab-bytes): at the
// bound it stops reading that side, as a full TCP window would, says so
// once in a lab.hold entry with an error, and loses nothing.
//
// The trace records each control (lab.* from browser to proxy) and its
// effect on each packet (lab.* from proxy toward the packet's destination,
// with its bytes): lab.hold when a packet is held, lab.release when it is
// let go (its forwarding follows: the mqtt.* entry toward the broker once
// written, or the page's own arrow), lab.drop when it is swallowed or was
// still held or delayed when its session ended (never delivered: nothing is
// released late). Silenced, the page's close is not passed to the broker
// (no FIN: the broker notices only by its keepalive, and publishes the will)
// and the broker's close is not passed to the page; lab.silence says so.
package proxy
