package proxy

import (
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// BrokerWatcher is the embedded broker as the proxy sees it: it runs in the
// same process and reports, per MQTT client id, the messages it dropped
// (trace.KindBrokerDrop entries). A session to it passes its client's
// reports to the session's trace, on the broker leg.
type BrokerWatcher interface {
	Addr() *net.TCPAddr
	// Watch calls emit with each report about clientID until stop is
	// called; emit must not block.
	Watch(clientID string, emit func(trace.Entry)) (stop func())
}

// reaches reports whether a connection to addr reaches the broker b (which
// may listen on every interface).
func reaches(b *net.TCPAddr, addr netip.AddrPort) bool {
	bp := b.AddrPort()
	if bp.Port() != addr.Port() {
		return false
	}
	ba, a := bp.Addr().Unmap(), addr.Addr().Unmap()
	return ba == a || (ba.IsUnspecified() && a.IsLoopback())
}

// watchDrops starts passing the broker's reports about clientID to the
// session's trace (once per session; an empty id waits for the CONNACK's
// Assigned Client Identifier).
func (ss *session) watchDrops(clientID string) {
	ss.dropsMu.Lock()
	defer ss.dropsMu.Unlock()
	if clientID == "" || ss.stopDrops != nil || ss.dropsEnded {
		return
	}
	ss.stopDrops = ss.srv.cfg.Broker.Watch(clientID, func(e trace.Entry) {
		e.T = msSince(ss.start, time.Now())
		e.Leg, e.Conn, e.Version = trace.LegProxyBroker, ss.conn, int(ss.version.Load())
		ss.emit(e)
	})
}

// dropsUp looks at a packet from the page for the client id to watch: the
// first CONNECT's.
func (ss *session) dropsUp(pkt []byte, version int) {
	if !ss.toEmbedded || !ss.tracing() || pkt == nil || pkt[0]>>4 != byte(codec.TypeConnect) {
		return
	}
	var c codec.Connect
	if c.Decode(pkt, codec.Version(version)) == nil {
		ss.watchDrops(strings.Clone(c.ClientID)) // the codec's strings alias pkt, whose buffer is reused
	}
}

// dropsDown looks at a packet from the broker for an Assigned Client
// Identifier (v5, a CONNECT with an empty client id).
func (ss *session) dropsDown(pkt []byte) {
	if !ss.toEmbedded || !ss.tracing() || pkt == nil || pkt[0]>>4 != byte(codec.TypeConnack) {
		return
	}
	var c codec.Connack
	if c.Decode(pkt, codec.Version(ss.version.Load())) == nil && c.Properties.Has(codec.PropAssignedClientID) {
		ss.watchDrops(strings.Clone(c.Properties.AssignedClientID))
	}
}

// unwatchDrops stops the broker's reports to this session.
func (ss *session) unwatchDrops() {
	ss.dropsMu.Lock()
	defer ss.dropsMu.Unlock()
	ss.dropsEnded = true
	if ss.stopDrops != nil {
		ss.stopDrops()
		ss.stopDrops = nil
	}
}
