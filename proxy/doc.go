// Package proxy is Lifeline's WebSocket-to-TCP proxy for MQTT: the page's
// MQTT-over-WebSocket connection (GET /mqtt) becomes a TCP or TLS connection
// to the broker, bytes unchanged, after a policy check on the resolved
// address. Every step the browser cannot see — the DNS messages, the TCP
// handshake and close, TLS, the broker leg's MQTT packets split on their
// boundaries — is reported on the page's trace side channel (GET /trace) or,
// for clients that opened none, to the log.
//
// The proxy is built to be left running: Origin and Host checks, an
// allowlist, refusal of private and loopback addresses (DNS rebinding
// included), per-IP and total connection limits, a maximum message size,
// idle, handshake and write timeouts, and bounded buffers with backpressure
// both ways (a slow reader on one side stops the proxy reading the other).
//
// It does not look inside packets beyond their fixed header and the CONNECT's
// protocol level, and it never changes a byte.
package proxy
