// Package embedded runs the offline defaults of `lifeline serve`: an MQTT
// broker (github.com/mochi-mqtt/server/v2, with explicit limits, since its
// defaults are unbounded) and a small authoritative DNS server on loopback
// that answers names of the demo zone (broker.lifeline.test) over UDP, so the
// proxy's DNS step is a real exchange even with no network.
//
// It is a demo broker, not a production one: it allows every client, keeps
// sessions in memory only, and listens on loopback by default.
//
// # Limits, and what the broker says when it reaches one
//
// BrokerLimits bound the broker by count and by bytes, like a real
// broker's defaults (mosquitto: 20 messages in flight and 1,000 queued per
// client) plus byte budgets that keep its memory within
// BrokerLimits.Budget whatever clients do. The broker delivers messages
// itself, through mochi's hooks (queue.go), because mochi drops a message
// silently when a client's store is full and its own flow control loses
// track of the messages it held back. Per client it sends at most the
// in-flight window (the client's Receive Maximum in v5, else
// -broker-max-inflight) of unacknowledged QoS 1/2 messages, queues the
// rest, and when a limit is reached drops the message and says so: a
// broker.drop trace entry (trace.KindBrokerDrop, with a trace.Drop giving
// the client, topic, QoS, size, reason and its queue's counts) to whoever
// Watches the client id — the proxy's session of that client — and a
// count by reason in Stats (/healthz). What MQTT lets a broker say, it
// says: CONNACK 0x97 Quota exceeded (v5) or 0x03 Server unavailable
// (3.1.1) when it holds its maximum of sessions; PUBACK/PUBREC 0x97 to a v5
// publisher of a retained message the retained store has no room for (a
// 3.1.1 or QoS 0 publisher's message is delivered but not retained, and a
// broker.drop entry says so); the Receive Maximum it announces (the window)
// is enforced on publishers (DISCONNECT 0x93 beyond it); a packet larger
// than -broker-max-packet ends the connection (v5: DISCONNECT 0x95).
// A client that connects with the client id of a connection still open,
// or one that has just ended, finds that connection ended first (v5:
// DISCONNECT 0x8E Session taken over) and its cleanup done: mochi's
// cleanup, run after the new connection took the id, would otherwise
// deregister it and remove its subscriptions (see endingWait).
//
// For lessons, an MQTT 5 client may ask for a shorter queue than the
// broker's with the CONNECT user property "lifeline-max-queued"
// (MaxQueuedProperty), and for a smaller window with its Receive Maximum:
// a subscriber with Receive Maximum 2 and lifeline-max-queued 5 that holds
// its acknowledgements shows a full queue and its drops after 8 messages.
//
// # What the embedded broker does that a lesson may notice
//
// mochi v2.7.9 has quirks; those we can configure are configured, the rest
// are written here so a lesson does not mistake them for the protocol:
//
//   - Acks (configured): mochi copies a PUBLISH's properties into its
//     PUBACK / PUBREC / PUBREL / PUBCOMP and then writes the reason code
//     it keeps for the ack, which for a PUBACK is 0x01 (its "Granted QoS 1"),
//     invalid in a PUBACK [3.4.2.1]. StartBroker sets mochi's
//     NoInheritedPropertiesOnAck, so acks are sent in their short form,
//     which means Success (0x00), and carry no properties.
//   - DISCONNECT with a reason code but no Property Length (Remaining
//     Length 1, legal per 3.14.2.2.1): mochi ignores the reason, so a
//     "Disconnect with Will Message" (0x04) sent so drops the will. Our
//     codec always writes the Property Length after a non-zero reason code,
//     as paho.golang and mqtt.js do; other clients sending the short form
//     will see no will.
//   - Packet identifiers: mochi keeps the client's packet identifiers and
//     its own in one store, so a SUBSCRIBE (or QoS 2 PUBLISH) whose id is
//     that of a message the broker sent and the client has not yet
//     acknowledged is refused with 0x91 Packet Identifier in use, though
//     the two directions are separate spaces [2.2.1].
//   - Keep alive: mochi sets the connection's deadline to k + k/2 whole
//     seconds after each packet (integer division), so keepalive 1 times
//     out after 1 s (not 1.5 s), 3 after 4 s (not 4.5 s); even values are
//     exact. At the deadline it closes the TCP connection without sending
//     a DISCONNECT (no 0x8D Keep Alive timeout), and publishes the will. It
//     also logs a warning for any keepalive of 5 s or less. Lessons that
//     show keepalive should use an even value of at least 2. This cannot
//     be configured in mochi.
package embedded
