// Package embedded runs the offline defaults of `lifeline serve`: an MQTT
// broker (github.com/mochi-mqtt/server/v2, with explicit limits, since its
// defaults are unbounded) and a small authoritative DNS server on loopback
// that answers names of the demo zone (broker.lifeline.test) over UDP, so the
// proxy's DNS step is a real exchange even with no network.
//
// It is a demo broker, not a production one: it allows every client, keeps
// sessions in memory only, and listens on loopback by default.
package embedded
