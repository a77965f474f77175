// Package expert reads the MQTT packets of a trace and reports what a
// reader should look at, as Wireshark's expert info does for a capture:
// each Finding has a severity (error, warning, note, chat), the packets it
// is about (trace sequence numbers, the first being where to look), a
// sentence and the clause or section of the specification it rests on.
//
// Analyze groups entries by connection and leg (Entry.Conn and Entry.Leg),
// tells the client from the broker by the packets each sends, and follows
// both directions: packet identifiers in flight and their answers, CONNECT
// and PINGREQ answers, granted QoS, reason codes, keepalive gaps, topic
// aliases and their maximums, and every packet the codec refuses to decode
// (a wildcard in a topic name, DUP on QoS 0, a property twice, bytes that
// are not a packet), which becomes an error finding instead of stopping the
// analysis.
//
// It does not dissect packets (package codec does), draw anything (package
// diagram and the page do), or decide whether a broker's behaviour is a bug:
// a finding says what the packets show and which rule applies.
package expert
