// Package diagram computes Lifeline's sequence diagram from trace entries:
// the lanes (one lifeline per party), the arrows (one per entry, ordered by
// time on one clock), the exchanges that link a request to its answers
// (PUBLISH and PUBACK, the four steps of QoS 2, SUBSCRIBE and SUBACK, DNS
// query and response, the TCP handshake …), the time between arrows, and
// the keepalive deadlines a client must meet, and the timers the broker
// keeps for MQTT 5.0 clients (message expiry, will delay, session expiry).
//
// Entries come from two clocks: the page's own (the browser's client) and
// the server's (the proxy's DNS, TCP and broker-leg entries, read from the
// /trace side channel). A Clock estimates the offset between them from
// ping/pong samples, and the Model places every entry on the page's clock so
// both legs interleave.
//
// The package is pure Go and is tested natively; the wasm client holds one
// Model and the page only draws what View returns. The model is bounded:
// past a maximum, the oldest arrows are paged out and summarised by kind.
//
// It does not dissect packets (package codec does), draw anything, or keep
// time of its own.
package diagram
