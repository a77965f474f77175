package dnsdissect

import (
	"strconv"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// Dissect returns the field tree of the DNS message in msg (as carried in
// UDP, without TCP's length prefix). It never panics: a message that does
// not parse is dissected as far as it reads and an Expert note says where
// and why it broke. Tree.Type and Tree.Version are zero: they are MQTT's.
func Dissect(msg []byte) (t codec.Tree) {
	t.Name = "DNS"
	defer func() {
		if x := recover(); x != nil {
			t.Expert = append(t.Expert, codec.Expert{Message: "internal dissector error"})
			t.Summary = ""
		}
	}()
	if len(msg) < 12 {
		t.Expert = append(t.Expert, codec.Expert{Message: "DNS header: " + strconv.Itoa(len(msg)) + " bytes, a header has 12"})
		return t
	}
	fl := be16(msg, 2)
	response := fl&0x8000 != 0
	rcode := int(fl & 15)
	if response {
		t.Name = "DNS response"
	} else {
		t.Name = "DNS query"
	}
	counts := [4]int{int(be16(msg, 4)), int(be16(msg, 6)), int(be16(msg, 8)), int(be16(msg, 10))}
	t.Fields = append(t.Fields,
		hexField("dns.id", "Transaction ID", 0, 2, be16(msg, 0)),
		flags(fl),
		num("dns.count.queries", "Questions", 4, 2, counts[0]),
		num("dns.count.answers", "Answer RRs", 6, 2, counts[1]),
		num("dns.count.auth_rr", "Authority RRs", 8, 2, counts[2]),
		num("dns.count.add_rr", "Additional RRs", 10, 2, counts[3]),
	)
	off := 12
	broke := func(what string, at int, err string) codec.Tree {
		t.Expert = append(t.Expert, codec.Expert{Offset: at, Message: what + ": " + err})
		return t
	}
	if counts[0] > 0 {
		group := codec.Field{Name: "dns.queries", Label: "Queries", Offset: off}
		for i := 0; i < counts[0]; i++ {
			name, n, err := readName(msg, off)
			if err == "" && off+n+4 > len(msg) {
				err = "the message ends inside the question"
			}
			if err != "" {
				t.Fields = append(t.Fields, closeGroup(group, off))
				return broke("DNS question", off, err)
			}
			typ, class := be16(msg, off+n), be16(msg, off+n+2)
			group.Children = append(group.Children, codec.Field{
				Label: name + ": type " + typeName(typ) + ", class " + className(class), Offset: off, Length: n + 4,
				Children: []codec.Field{
					text("dns.qry.name", "Name", off, n, name),
					typeField("dns.qry.type", off+n, typ),
					classField("dns.qry.class", off+n+2, class),
				},
			})
			if t.Summary == "" {
				t.Summary = typeName(typ) + " " + name
			}
			off += n + 4
		}
		t.Fields = append(t.Fields, closeGroup(group, off))
	}
	sections := []struct {
		name, label string
		count       int
	}{
		{"dns.answers", "Answers", counts[1]},
		{"dns.authorities", "Authoritative nameservers", counts[2]},
		{"dns.additionals", "Additional records", counts[3]},
	}
	for _, s := range sections {
		if s.count == 0 {
			continue
		}
		group := codec.Field{Name: s.name, Label: s.label, Offset: off}
		for i := 0; i < s.count; i++ {
			f, n, err := resource(msg, off)
			if err != "" {
				t.Fields = append(t.Fields, closeGroup(group, off))
				return broke("DNS "+s.label, off, err)
			}
			group.Children = append(group.Children, f)
			off += n
		}
		t.Fields = append(t.Fields, closeGroup(group, off))
	}
	if response {
		t.Summary += " → " + rcodeName(rcode)
	}
	return t
}

func closeGroup(g codec.Field, end int) codec.Field {
	g.Length = end - g.Offset
	return g
}

// flags is dns.flags with its bits, the ones tshark gives for a query or a
// response.
func flags(v uint16) codec.Field {
	f := hexField("dns.flags", "Flags", 2, 2, v)
	response := v&0x8000 != 0
	bit := func(name, label string, mask uint16) {
		f.Children = append(f.Children, flag(name, label, v&mask != 0))
	}
	bit("dns.flags.response", "Response", 0x8000)
	f.Children = append(f.Children, num("dns.flags.opcode", "Opcode", 2, 2, int(v>>11&15)))
	if response {
		bit("dns.flags.authoritative", "Authoritative", 0x0400)
	}
	bit("dns.flags.truncated", "Truncated", 0x0200)
	bit("dns.flags.recdesired", "Recursion desired", 0x0100)
	if response {
		bit("dns.flags.recavail", "Recursion available", 0x0080)
	}
	bit("dns.flags.z", "Z (reserved)", 0x0040)
	if response {
		bit("dns.flags.authenticated", "Answer authenticated", 0x0020)
	}
	bit("dns.flags.checkdisable", "Non-authenticated data", 0x0010)
	if response {
		rc := num("dns.flags.rcode", "Reply code", 2, 2, int(v&15))
		rc.Label += " (" + rcodeName(int(v&15)) + ")"
		f.Children = append(f.Children, rc)
	}
	return f
}

// Record types and the class Lifeline names.
const (
	typeA     = 1
	typeNS    = 2
	typeCNAME = 5
	typeSOA   = 6
	typePTR   = 12
	typeAAAA  = 28
	typeOPT   = 41
)

// resource is the field of the resource record at off and its length, or
// what is wrong with it.
func resource(msg []byte, off int) (codec.Field, int, string) {
	name, n, err := readName(msg, off)
	if err != "" {
		return codec.Field{}, 0, err
	}
	if off+n+10 > len(msg) {
		return codec.Field{}, 0, "the message ends inside a record's header"
	}
	typ, class := be16(msg, off+n), be16(msg, off+n+2)
	ttl := int(be16(msg, off+n+4))<<16 | int(be16(msg, off+n+6))
	rdlen := int(be16(msg, off+n+8))
	rdata := off + n + 10
	if rdata+rdlen > len(msg) {
		return codec.Field{}, 0, "record data of " + strconv.Itoa(rdlen) + " bytes runs past the message's end"
	}
	g := codec.Field{Offset: off, Length: n + 10 + rdlen}
	g.Children = append(g.Children,
		text("dns.resp.name", "Name", off, n, name),
		typeField("dns.resp.type", off+n, typ))
	if typ == typeOPT {
		// OPT's class and TTL are EDNS's payload size and extended flags.
		g.Label = name + ": type OPT"
		g.Children = append(g.Children, num("dns.rr.udp_payload_size", "UDP payload size", off+n+2, 2, int(class)))
	} else {
		g.Label = name + ": type " + typeName(typ) + ", class " + className(class)
		g.Children = append(g.Children,
			classField("dns.resp.class", off+n+2, class),
			num("dns.resp.ttl", "Time to live", off+n+4, 4, ttl))
	}
	g.Children = append(g.Children, num("dns.resp.len", "Data length", off+n+8, 2, rdlen))
	rd := msg[rdata : rdata+rdlen]
	nameIn := func(at int) (string, int, string) {
		s, l, err := readName(msg, at)
		if err == "" && at+l > rdata+rdlen {
			err = "a name runs past its record's data"
		}
		return s, l, err
	}
	switch {
	case typ == typeA && rdlen == 4:
		a := ipv4(rd)
		g.Label += ", addr " + a
		g.Children = append(g.Children, text("dns.a", "Address", rdata, 4, a))
	case typ == typeAAAA && rdlen == 16:
		a := ipv6(rd)
		g.Label += ", addr " + a
		g.Children = append(g.Children, text("dns.aaaa", "AAAA Address", rdata, 16, a))
	case typ == typeA || typ == typeAAAA:
		return codec.Field{}, 0, "an " + typeName(typ) + " record of " + strconv.Itoa(rdlen) + " bytes"
	case typ == typeCNAME || typ == typeNS || typ == typePTR:
		s, l, err := nameIn(rdata)
		if err != "" {
			return codec.Field{}, 0, err
		}
		field := [2]string{"dns.cname", "CNAME"}
		switch typ {
		case typeNS:
			field = [2]string{"dns.ns", "Name Server"}
		case typePTR:
			field = [2]string{"dns.ptr.domain_name", "Domain Name"}
		}
		g.Label += ", " + field[1] + " " + s
		g.Children = append(g.Children, text(field[0], field[1], rdata, l, s))
	case typ == typeSOA:
		mname, mn, err := nameIn(rdata)
		if err != "" {
			return codec.Field{}, 0, err
		}
		rname, rn, err := nameIn(rdata + mn)
		if err != "" {
			return codec.Field{}, 0, err
		}
		tail := rdata + mn + rn
		if tail+20 != rdata+rdlen {
			return codec.Field{}, 0, "an SOA record of the wrong length"
		}
		u32 := func(at int) int { return int(be16(msg, at))<<16 | int(be16(msg, at+2)) }
		g.Children = append(g.Children,
			text("dns.soa.mname", "Primary name server", rdata, mn, mname),
			text("dns.soa.rname", "Responsible authority's mailbox", rdata+mn, rn, rname),
			num("dns.soa.serial_number", "Serial Number", tail, 4, u32(tail)),
			num("dns.soa.refresh_interval", "Refresh Interval", tail+4, 4, u32(tail+4)),
			num("dns.soa.retry_interval", "Retry Interval", tail+8, 4, u32(tail+8)),
			num("dns.soa.expire_limit", "Expire limit", tail+12, 4, u32(tail+12)),
			num("dns.soa.mininum_ttl", "Minimum TTL", tail+16, 4, u32(tail+16)))
	}
	return g, n + 10 + rdlen, ""
}

// readName reads the name at off: its text as Wireshark writes it (no
// final dot, the root as "<Root>"), its length on the wire (labels up to
// the root's zero byte or up to and including a compression pointer), or
// what is wrong with it. Pointers are followed backwards only, so a loop
// cannot be made.
func readName(msg []byte, off int) (string, int, string) {
	var b []byte
	wire := -1
	for i, hops := off, 0; ; {
		if i >= len(msg) {
			return "", 0, "the message ends inside a name"
		}
		c := int(msg[i])
		switch {
		case c == 0:
			if wire < 0 {
				wire = i + 1 - off
			}
			if len(b) == 0 {
				return "<Root>", wire, ""
			}
			return string(b), wire, ""
		case c&0xc0 == 0xc0:
			if i+2 > len(msg) {
				return "", 0, "the message ends inside a name's pointer"
			}
			if wire < 0 {
				wire = i + 2 - off
			}
			to := (c&0x3f)<<8 | int(msg[i+1])
			if to >= i || hops > 127 {
				return "", 0, "a name's pointer does not point back"
			}
			i, hops = to, hops+1
		case c&0xc0 != 0:
			return "", 0, "a name's label has reserved type bits " + strconv.Itoa(c>>6)
		default:
			if i+1+c > len(msg) {
				return "", 0, "the message ends inside a name's label"
			}
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, msg[i+1:i+1+c]...)
			if len(b) > 255 {
				return "", 0, "a name longer than 255 bytes"
			}
			i += 1 + c
		}
	}
}

func be16(b []byte, off int) uint16 {
	if off+2 > len(b) {
		return 0
	}
	return uint16(b[off])<<8 | uint16(b[off+1])
}

func hex4(v uint16) string {
	const digits = "0123456789abcdef"
	return "0x" + string([]byte{digits[v>>12], digits[v>>8&15], digits[v>>4&15], digits[v&15]})
}

func hexField(name, label string, off, n int, v uint16) codec.Field {
	s := hex4(v)
	return codec.Field{Name: name, Value: s, Label: label + ": " + s, Offset: off, Length: n}
}

func num(name, label string, off, n, v int) codec.Field {
	s := strconv.Itoa(v)
	return codec.Field{Name: name, Value: s, Label: label + ": " + s, Offset: off, Length: n}
}

func text(name, label string, off, n int, s string) codec.Field {
	return codec.Field{Name: name, Value: s, Label: label + ": " + s, Offset: off, Length: n}
}

func flag(name, label string, set bool) codec.Field {
	v, l := "0", "Not set"
	if set {
		v, l = "1", "Set"
	}
	return codec.Field{Name: name, Value: v, Label: label + ": " + l, Offset: 2, Length: 2}
}

func typeField(name string, off int, t uint16) codec.Field {
	f := num(name, "Type", off, 2, int(t))
	f.Label = "Type: " + typeName(t) + " (" + f.Value + ")"
	return f
}

func classField(name string, off int, c uint16) codec.Field {
	f := hexField(name, "Class", off, 2, c)
	f.Label = "Class: " + className(c) + " (" + f.Value + ")"
	return f
}

// typeName is a record type's mnemonic ("A", "AAAA"), or its number.
func typeName(t uint16) string {
	switch t {
	case typeA:
		return "A"
	case typeNS:
		return "NS"
	case typeCNAME:
		return "CNAME"
	case typeSOA:
		return "SOA"
	case typePTR:
		return "PTR"
	case typeAAAA:
		return "AAAA"
	case typeOPT:
		return "OPT"
	}
	return strconv.Itoa(int(t))
}

func className(c uint16) string {
	if c == 1 {
		return "IN"
	}
	return strconv.Itoa(int(c))
}

// rcodeName is a reply code's name as RFC 1035 and RFC 6895 spell it.
func rcodeName(r int) string {
	if r < len(rcodes) {
		return rcodes[r]
	}
	return "RCODE " + strconv.Itoa(r)
}

var rcodes = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}

// ipv4 writes 4 bytes as a dotted quad. (net/netip would do, at a cost in
// the WebAssembly client's size.)
func ipv4(b []byte) string {
	out := make([]byte, 0, 15)
	for i, c := range b {
		if i > 0 {
			out = append(out, '.')
		}
		out = strconv.AppendInt(out, int64(c), 10)
	}
	return string(out)
}

// ipv6 writes 16 bytes as RFC 5952 says: lowercase hex, the longest run
// of two or more zero groups (the first of equals) as "::", and an
// IPv4-mapped address as ::ffff:a.b.c.d.
func ipv6(b []byte) string {
	var g [8]int
	for i := range g {
		g[i] = int(b[2*i])<<8 | int(b[2*i+1])
	}
	if g[0]|g[1]|g[2]|g[3]|g[4] == 0 && g[5] == 0xffff {
		return "::ffff:" + ipv4(b[12:])
	}
	best, bestLen := -1, 1
	for i := 0; i < 8; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && g[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	var out []byte
	for i := 0; i < 8; i++ {
		if i == best {
			out = append(out, ':', ':')
			i += bestLen - 1
			continue
		}
		if len(out) > 0 && out[len(out)-1] != ':' {
			out = append(out, ':')
		}
		out = strconv.AppendInt(out, int64(g[i]), 16)
	}
	return string(out)
}

// ReadName, IPv4 and IPv6 are readName, ipv4 and ipv6 for the diagram
// model, which names brokers from DNS answers: one reader of names and
// addresses in the WebAssembly client.
func ReadName(msg []byte, off int) (name string, wire int, bad string) { return readName(msg, off) }

// IPv4 writes 4 bytes as a dotted quad.
func IPv4(b []byte) string { return ipv4(b) }

// IPv6 writes 16 bytes as RFC 5952 says.
func IPv6(b []byte) string { return ipv6(b) }
