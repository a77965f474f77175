package diagram

import (
	"sort"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/dnsdissect"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// A live session's parties have names (browser, proxy, dns, broker, device
// …). An opened capture's parties are addresses, host:port, which say
// little: the lanes of those are named for people from what the entries
// show — a client by the client id of its CONNECT, a broker by the DNS name
// whose answer led to its address, a DNS server as such — with the address
// kept as the lane's Detail. A device's lookups from ephemeral ports (a port
// per query) would each get a lane of two arrows; they share one lane per
// host as long as those ports carry nothing but DNS.

// partyRole is what a party does, as far as the entries show.
type partyRole int

const (
	asClient partyRole = iota
	asDNSClient
	asProxy
	asDNSServer
	asBroker
)

// party is what the model knows of one party.
type party struct {
	_        noEq // see noEq
	order    int  // of first appearance
	addr     bool
	role     partyRole
	dnsOnly  bool   // every entry it took part in was DNS
	clientID string // of its first CONNECT, for a client
	broker   bool   // it received a CONNECT (timers.go)
	client   bool   // it has had a keepalive channel (keepalive.go)
}

// learn records what an entry says about its parties and lays the lanes
// out again when that changed them. It returns the two parties (nil for
// none).
func (m *Model) learn(e *trace.Entry) (from, to *party) {
	from, changed := m.partyOf(e.From)
	to, added := m.partyOf(e.To)
	changed = changed || added
	if dns := len(e.Kind) > 4 && e.Kind[:4] == "dns."; !dns {
		for _, p := range [2]*party{from, to} {
			if p != nil && p.dnsOnly {
				p.dnsOnly = false
				changed = true
			}
		}
	}
	switch e.Kind {
	case trace.KindTCPSyn, "mqtt.CONNECT":
		changed = to.setRole(asBroker, asBroker) || changed
	case "mqtt.CONNACK":
		changed = from.setRole(asBroker, asBroker) || changed
	case trace.KindDNSQuery:
		changed = to.setRole(asDNSServer, asBroker) || changed
	case trace.KindDNSResponse:
		changed = from.setRole(asDNSServer, asBroker) || changed
		if e.Error == "" {
			changed = m.learnNames(e.Bytes) || changed
		}
	}
	if e.Kind == "mqtt.CONNECT" && from != nil && from.addr && from.clientID == "" {
		if id, ok := codec.PeekClientID(e.Bytes); ok && len(id) > 0 {
			from.clientID = string(id)
			changed = true
		}
	}
	if changed {
		m.layout()
	}
	return from, to
}

// setRole gives an address party the role r unless it has r or unless;
// it reports whether that changed it.
func (p *party) setRole(r, unless partyRole) bool {
	if p == nil || !p.addr || p.role == r || p.role == unless {
		return false
	}
	p.role = r
	return true
}

// namedParty is a party and its name.
type namedParty struct {
	_    noEq // see noEq
	name string
	p    *party
}

// partyOf returns the party of that name, nil for "", and whether it is
// new. The last few named are remembered: an arrow's two parties nearly
// always are among them, found without hashing their names (slow in
// WebAssembly, which has no AES for Go's maps).
func (m *Model) partyOf(name string) (*party, bool) {
	if name == "" {
		return nil, false
	}
	for i := range m.recent {
		if r := &m.recent[i]; r.p != nil && r.name == name {
			return r.p, false
		}
	}
	p := m.parties[name]
	added := p == nil
	if added {
		_, _, addr := splitHostPort(name)
		p = &party{order: len(m.parties), addr: addr, dnsOnly: true}
		m.parties[name] = p
	}
	m.recent[m.nextParty] = namedParty{name: name, p: p}
	m.nextParty = (m.nextParty + 1) % len(m.recent)
	return p, added
}

// learnNames remembers which name a DNS answer gave each address.
func (m *Model) learnNames(b []byte) bool {
	changed := false
	dnsAnswers(b, func(name, ip string) {
		if len(m.names) < 4096 && m.names[ip] == "" {
			m.names[ip] = name
			changed = true
		}
	})
	return changed
}

// layout computes the lanes from what is known of the parties: clients
// first, then the DNS lookups, the proxy, the DNS servers and the brokers,
// each group in order of first appearance.
func (m *Model) layout() {
	type placed struct {
		_ noEq
		Lane
		rank, order int
	}
	var lanes []placed
	at := map[string]int{} // lane key -> index in lanes
	laneOf := map[string]string{}
	for name, p := range m.parties {
		l, key, rank := m.laneFor(name, p)
		laneOf[name] = key
		if i, ok := at[key]; ok {
			lanes[i].order = min(lanes[i].order, p.order)
			continue
		}
		at[key] = len(lanes)
		lanes = append(lanes, placed{Lane: l, rank: rank, order: p.order})
	}
	sort.Slice(lanes, func(i, j int) bool {
		if lanes[i].rank != lanes[j].rank {
			return lanes[i].rank < lanes[j].rank
		}
		return lanes[i].order < lanes[j].order
	})
	m.lanes = m.lanes[:0]
	index := map[string]int{}
	for i, l := range lanes {
		m.lanes = append(m.lanes, l.Lane)
		index[l.Party] = i
	}
	clear(m.laneIndex)
	for name, key := range laneOf {
		m.laneIndex[name] = index[key]
	}
}

// laneFor returns the lane a party is drawn on, the key shared by the
// parties drawn on it (its Party), and its rank left to right.
func (m *Model) laneFor(name string, p *party) (Lane, string, int) {
	if !p.addr {
		return Lane{Party: name, Label: LaneLabel(name)}, name, partyRank(name)
	}
	host, port, _ := splitHostPort(name)
	switch {
	case p.role == asBroker:
		if dn := m.names[host]; dn != "" {
			return Lane{Party: name, Label: dn, Detail: "broker " + name}, name, int(asBroker)
		}
		return Lane{Party: name, Label: "broker " + name}, name, int(asBroker)
	case p.role == asDNSServer:
		short := name
		if port == "53" {
			short = host
		}
		return Lane{Party: name, Label: "DNS " + short, Detail: "name server " + name}, name, int(asDNSServer)
	case p.dnsOnly:
		key := host
		return Lane{Party: key, Label: "DNS lookups", Detail: "from " + host}, key, int(asDNSClient)
	case p.clientID != "":
		return Lane{Party: name, Label: p.clientID, Detail: name}, name, int(asClient)
	}
	return Lane{Party: name, Label: name}, name, int(asClient)
}

// partyRank orders named lanes: clients first, then the proxy, the DNS
// server and the broker.
func partyRank(p string) int {
	switch p {
	case "proxy":
		return int(asProxy)
	case "dns":
		return int(asDNSServer)
	case "broker":
		return int(asBroker)
	}
	return int(asClient)
}

// LaneLabel is the heading of a named party's lifeline.
func LaneLabel(p string) string {
	switch p {
	case "browser":
		return "Browser"
	case "proxy":
		return "Lifeline proxy"
	case "dns":
		return "DNS server"
	case "broker":
		return "Broker"
	case "client":
		return "CLI client"
	}
	return p
}

// splitHostPort splits "127.0.0.1:1883" or "[::1]:1883"; ok is false for
// a name that is no address with a port (browser, broker …).
func splitHostPort(s string) (host, port string, ok bool) {
	i := len(s) - 1
	for i >= 0 && s[i] >= '0' && s[i] <= '9' {
		i--
	}
	if i <= 0 || i == len(s)-1 || s[i] != ':' {
		return "", "", false
	}
	host, port = s[:i], s[i+1:]
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		return host[1 : len(host)-1], port, true
	}
	for j := 0; j < len(host); j++ {
		if c := host[j]; !(c == '.' || c >= '0' && c <= '9') {
			return "", "", false
		}
	}
	return host, port, true
}

// dnsAnswers calls f with the question's name and each A and AAAA address
// in a DNS response's answers [RFC 1035 4.1]: the name a client asked for
// is what led it to the address, whatever CNAMEs came between. The
// message is read by package dnsdissect, as the packet panel shows it.
func dnsAnswers(b []byte, f func(name, ip string)) {
	if qd, _ := u16(b, 4); len(b) < 12 || b[2]&0x80 == 0 || qd != 1 { // a response to one question
		return
	}
	name := ""
	var walk func(fs []codec.Field)
	walk = func(fs []codec.Field) {
		for i := range fs {
			switch fs[i].Name {
			case "dns.qry.name":
				name = fs[i].Value
			case "dns.a", "dns.aaaa":
				if name != "" {
					f(name, fs[i].Value)
				}
			}
			walk(fs[i].Children)
		}
	}
	walk(dnsdissect.Dissect(b).Fields)
}
