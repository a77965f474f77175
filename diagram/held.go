package diagram

import (
	"bytes"
	"strings"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// heldSearch bounds how far back a lab.hold looks for the packet it holds.
const heldSearch = 512

// held marks the arrival at the proxy of the packet a lab.hold entry (the
// proxy holding a packet, its bytes attached) is about: the latest arrow of
// the same connection with the same bytes that ends at the proxy.
func (m *Model) held(it *item) {
	e := &it.e
	if e.Kind != trace.KindLabHold || e.From != "proxy" || e.To != "proxy" || len(e.Bytes) == 0 {
		return
	}
	m.placeLate()
	for i := len(m.items) - 1; i >= 0 && i >= len(m.items)-heldSearch; i-- {
		c := m.items[i]
		if c == it || c.held || c.e.To != "proxy" || c.e.Conn != e.Conn || !strings.HasPrefix(c.e.Kind, "mqtt.") || !bytes.Equal(c.e.Bytes, e.Bytes) {
			continue
		}
		c.held = true
		return
	}
}
