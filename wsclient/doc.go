// Package wsclient opens MQTT over WebSocket the way a device or a page
// would, from Go, and records every layer on the way as trace entries: the
// DNS lookup, the TCP connect and the TLS handshake (through netrec), the
// certificate (subject, issuer, validity, and whether it verified), the
// HTTP upgrade (request line, Host, Origin, the subprotocols offered and
// the one chosen, the status and the headers that matter), each MQTT packet
// with the frame it travelled in, control frames, and the close handshake
// (code and reason).
//
// The WebSocket itself is github.com/coder/websocket; the recording is a
// tap on the connection under it that reads the same bytes (ParseFrameHeader,
// ParseClose), so what is drawn is what crossed the wire, not what the
// library chose to report. The tap also turns the faults a broker can commit
// into one clear error each (see Fault): a non-101 answer, an upgrade that
// chooses no subprotocol or one not offered, a text frame, a close with an
// invalid code, a frame larger than the limit.
//
// ParseURL reads the targets `lifeline trace` and `lifeline doctor` accept
// (ws, wss, mqtt, mqtts). Error carries the step that failed and the fix in
// words, which `lifeline doctor` prints.
//
// wsclient does not run MQTT: it returns a net.Conn that carries MQTT
// packets in binary frames, for client/netclient or a hand-written exchange.
// It is not compiled into the WebAssembly (the browser has its own
// WebSocket; see wasm/).
package wsclient
