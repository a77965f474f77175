// Package codec encodes, decodes, validates and dissects MQTT 3.1.1 and 5.0
// control packets.
//
// It is pure Go with no dependencies outside the standard library and no use
// of fmt or reflect (a test proves it), so it stays small inside the
// WebAssembly client; it is shared by the browser client, the proxy, the CLI
// and capture import. It does not do I/O, keep session state, or track
// topic aliases and packet identifiers across packets: that is the client's
// job.
//
// # Framing
//
// PacketLen reports the length of the packet at the start of a buffer from
// its fixed header alone, and a Splitter turns a byte stream in any chunking
// (one packet over many WebSocket frames or TCP segments, many packets in
// one) into whole packets. Both reject a Remaining Length that is not a
// minimal variable byte integer of at most 4 bytes [MQTT-1.5.5-1] and a
// packet larger than the configured maximum (ErrPacketTooLarge), before any
// byte of the body is buffered beyond what was written.
//
// # Decoding
//
// Decode(b, v) decodes one whole packet into a new struct. Each packet type
// also has a Decode method that decodes into a caller's struct without
// allocating (slices such as Subscribe.Subscriptions reuse their capacity).
// A CONNECT carries its own version: Connect.Decode sets Connect.Version from
// the protocol level byte, and PeekVersion reads it without decoding the
// rest.
//
// Lenient peeks (PeekHeader, PeekType, PeekPacketID, PeekQoS,
// PeekReasonCode, PeekLevel, PeekKeepAlive, PeekClientID) read one field
// for code that follows traffic, such as the diagram and the proxy: no
// validation, no allocation, false when the bytes do not hold the field.
//
// Zero-copy views: strings (topics, client identifiers, property strings)
// and byte slices (payloads, passwords, binary properties) of a decoded
// packet point into the buffer passed to Decode; nothing is copied. The
// caller must not modify that buffer while the packet is in use, and must
// copy what it keeps after the buffer is reused (for example a packet from
// Splitter.Next is valid until the next Write). strings.Clone and
// bytes.Clone make independent copies.
//
// Decoding is strict. Every error is a *DecodeError carrying the packet
// type, the Wireshark field name, the byte offset within the packet and the
// spec clause, and wrapping one of the sentinels: ErrMalformed (reason code
// 0x81: the bytes are not a well-formed packet), ErrProtocol (0x82: a
// well-formed packet breaks a protocol rule, such as a duplicate property)
// or ErrPacketTooLarge (0x95); finer sentinels such as ErrInvalidUTF8 or
// ErrTopicFilter wrap those, and ReasonForError picks the reason code. The
// checks: variable byte integers, reserved flag bits, QoS 3, packet
// identifier 0 where one is required, wildcards in topic names, malformed
// topic filters (including shared subscriptions), UTF-8 (surrogates, U+0000;
// a BOM is kept, not stripped), properties that are unknown, duplicated or
// not allowed in the packet (the single table in props.go), property values
// out of range, reason codes not defined for the packet, missing payloads,
// and any byte after a packet's last field. Checks that need two packets
// (a SUBACK has one code per filter of its SUBSCRIBE) are methods:
// Suback.Check and Unsuback.Check.
//
// # Encoding
//
// AppendPacket(dst, p, v) and the per-type Append methods append a packet
// to dst and allocate nothing when dst has room. They refuse what a decoder
// would refuse (QoS 3, packet identifier 0, wildcards in a topic name, a
// property not allowed in the packet, an MQTT 5.0-only field in 3.1.1).
// MQTT 5.0 properties of a decoded packet are written in the order they
// arrived, so a decoded packet re-encodes to the same bytes (a test checks
// it on every vector and the captures, and FuzzDecode on any input whose
// re-encoding has the same length). Properties set by hand, or added after
// decoding, are written after those, in identifier order, then Subscription
// Identifiers, then User Properties; a property is written when its bit is
// set in Properties.Present (see Properties.Set), User Properties and
// Subscription Identifiers when their slices are not empty.
//
// # Dissecting
//
// Dissect(b, v) returns a Tree of Fields named with Wireshark's display
// filter names (mqtt.hdrflags, mqtt.kalive, mqtt.topic, mqtt.property_id, …)
// whose values are written as `tshark -T fields` writes them, each with its
// byte offset and length and a label ("Keep Alive: 60"). A malformed packet
// is dissected as far as it can be read and the tree's Expert notes say
// where and why it broke; Dissect never panics. Tree.Text renders the tree
// for a terminal and the struct tags make it JSON for the page. Summary
// gives the one-line description used on diagram arrows. The decoder and
// the dissector are the same code (a cursor that optionally records
// fields), and a test compares every field with tshark on real captures.
package codec
