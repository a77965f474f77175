// Package doctor checks an MQTT endpoint (ws://, wss://, mqtt://, mqtts://)
// step by step, as `lifeline doctor` prints it: DNS (what A and AAAA
// answered), TCP (refused, timed out, the round-trip time), TLS (the
// handshake, an expired certificate, a wrong name, an unknown issuer, with
// the certificate's names), the WebSocket upgrade on the given path and, if
// that fails, on the paths brokers commonly use (/mqtt, /, /ws), the
// subprotocols mqtt and mqttv3.1 and none at all, CONNECT/CONNACK in MQTT
// 3.1.1 and 5.0 (the reason code in words), a QoS 1 round trip on a private
// topic, and optionally whether something on the way closes an idle
// connection.
//
// Each check has a verdict and, when it fails, the fix in words. Every step
// is bounded by a timeout; Run never panics or hangs on what a server
// sends. Checks run against the real endpoint, in order; a check that needs
// an earlier one that failed is skipped, except that after a TLS failure
// the rest runs without verifying (and says so), and after a wrong path or
// subprotocol the rest uses the one that works, so one run finds every
// problem it can.
//
// doctor speaks MQTT by hand with the codec (one packet at a time, no
// client state machine): it tests the endpoint, not a session.
package doctor
