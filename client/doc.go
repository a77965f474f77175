// Package client is Lifeline's MQTT 3.1.1 / 5.0 client state machine. It is
// sans-IO: it owns no socket, no goroutine and no clock, so the same code
// runs in native tests, in `lifeline trace` (driver: package
// client/netclient) and in the browser (driver: wasm/, over the browser's
// WebSocket on the single-threaded event loop). It imports no fmt, reflect
// or encoding/json, to keep the wasm small.
//
// # Driving a Client
//
// A driver owns one *Client and calls it from one goroutine (or the JS
// event loop). Every method takes now, the current time (time.Now() in the
// browser too). After EVERY call the driver drains the events with Next and
// obeys the three instructions among them, in order:
//
//	c := client.New(client.Config{Version: codec.V5, KeepAlive: 30, Reconnect: true})
//	c.Connect(time.Now())                  // → EventState(dialing), EventDial
//	for ev, ok := c.Next(); ok; ev, ok = c.Next() {
//		switch ev.Type {
//		case client.EventDial:  // open the transport (new WebSocket "mqtt" subprotocol);
//		                        // on open call c.Dialed(now), on failure c.DialFailed(now, err)
//		case client.EventSend:  // write ev.Bytes as ONE binary frame / to the socket
//		case client.EventClose: // close the transport; do NOT call c.Closed for it
//		}
//		// and record/draw every event: EventSend/EventReceive carry the raw
//		// Bytes and the decoded Packet (codec.Summary(ev.Packet) is the arrow
//		// label, codec.Dissect(ev.Bytes, c.Version()) the field tree).
//	}
//
// Inputs from the transport: Receive(now, bytes) for every chunk read, in any
// chunking (one WebSocket message may hold part of a packet or several);
// Closed(now, err) when the transport closes or fails by itself (ws onclose /
// onerror).
//
// Timers: after draining, read Deadline(); if it is non-zero, arrange to
// call Tick(time.Now()) at that time (setTimeout(deadline - now)), replacing
// any earlier timer. Tick is harmless when called early or late.
//
// User commands: Connect, Subscribe, Unsubscribe, Publish, Ping, Disconnect.
// They return synchronous errors (ErrNotConnected, ErrBusy, ErrNoPacketID,
// ErrPingPending, or a *codec.DecodeError for an invalid topic etc.) and the
// packet id that the completion event (EventPublished, EventSubscribed,
// EventUnsubscribed) will carry.
//
// # What the state machine does
//
//   - CONNECT from Config (client id generated when empty, will, v5
//     properties); CONNACK: refusals, Server Keep Alive, Receive Maximum,
//     Maximum Packet Size, Topic Alias Maximum, Maximum QoS, Retain
//     Available, Assigned Client Identifier.
//   - QoS 0/1/2 both ways; packet ids never reused while in flight; at most
//     Receive Maximum unacknowledged PUBLISHes, the rest queued in order;
//     topic aliases assigned to outgoing PUBLISHes and resolved on incoming
//     ones; a duplicate QoS 2 PUBLISH is acknowledged but not delivered again.
//   - Keepalive: PINGREQ when nothing was sent or nothing was received for
//     the keepalive interval (so a dead connection is found even while the
//     client keeps publishing QoS 0); no PINGRESP within PingTimeout ends
//     the connection (reason 0x8D).
//   - Reconnect (Config.Reconnect) with exponential backoff and jitter,
//     also after a refused CONNECT; session resume: unacknowledged PUBLISHes
//     again with DUP and the same id, PUBREL where PUBREC had arrived, in
//     the original order. If the broker lost the session, unacknowledged
//     messages are sent again as new ones.
//   - Protocol violations by the broker (malformed packets, a packet before
//     CONNACK, a SUBACK with the wrong count of codes, an ack for an unknown
//     id, an undefined Topic Alias, Receive Maximum exceeded, …) end the
//     connection: in 5.0 with a DISCONNECT carrying the reason code and a
//     Reason String, always with an EventError naming the spec clause.
//
// It does not do enhanced authentication (AUTH), does not persist sessions
// across process restarts, and does not re-subscribe after a session was
// lost.
package client
