// Package embedded runs the offline defaults of `lifeline serve`: an MQTT
// broker (github.com/mochi-mqtt/server/v2, with explicit limits, since its
// defaults are unbounded) and a small authoritative DNS server on loopback
// that answers names of the demo zone (broker.lifeline.test) over UDP, so the
// proxy's DNS step is a real exchange even with no network.
//
// It is a demo broker, not a production one: it allows every client, keeps
// sessions in memory only, and listens on loopback by default.
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
//   - Keep alive: mochi sets the connection's deadline to k + k/2 whole
//     seconds after each packet (integer division), so keepalive 1 times
//     out after 1 s (not 1.5 s), 3 after 4 s (not 4.5 s); even values are
//     exact. At the deadline it closes the TCP connection without sending
//     a DISCONNECT (no 0x8D Keep Alive timeout), and publishes the will. It
//     also logs a warning for any keepalive of 5 s or less. Lessons that
//     show keepalive should use an even value of at least 2. This cannot
//     be configured in mochi.
package embedded
