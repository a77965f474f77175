package capture

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// dnsMessage emits a DNS query or response carried in UDP and remembers
// which name each answered address belongs to.
func (s *scanner) dnsMessage(src, dst netip.AddrPort, payload []byte) {
	e := trace.Entry{
		Leg: LegClientDNS, From: src.String(), To: dst.String(), Kind: trace.KindDNSQuery,
		Bytes: append([]byte(nil), payload...), Observed: trace.ObservedWire,
	}
	e.Src, e.Dst = e.From, e.To
	sum, resp, answers, rcode, err := dnsSummary(payload)
	if resp {
		e.Kind = trace.KindDNSResponse
	}
	e.Summary, e.Error = sum, rcode
	if err != nil {
		e.Error = "malformed DNS message: " + err.Error()
		if e.Summary == "" {
			e.Summary = "malformed DNS message"
		}
		s.problem(nil, "malformed DNS message from %v to %v: %v", src, dst, err)
	}
	for addr, name := range answers {
		s.dnsName[addr] = dnsAnswer{name: name, frame: s.frame}
	}
	s.emit(s.frame, s.now, e)
}

// dnsSummary describes a DNS message the way Wireshark's Info column does:
// "Standard query 0x1a2b A broker.example" or "Standard query response
// 0x1a2b A broker.example A 192.0.2.1". rcode names a failed response's
// RCode; err is set for a malformed message, whose summary tells what was
// read before it broke. answers maps each A and AAAA address to the
// question name.
func dnsSummary(b []byte) (summary string, response bool, answers map[netip.Addr]string, rcode string, err error) {
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		return "", false, nil, "", err
	}
	var sb strings.Builder
	sb.WriteString("Standard query ")
	if h.Response {
		sb.WriteString("response ")
	}
	sb.WriteString("0x" + strconv.FormatUint(uint64(h.ID)|0x10000, 16)[1:])
	if h.RCode != dnsmessage.RCodeSuccess {
		rcode = rcodeName(h.RCode)
		sb.WriteString(" " + rcode)
	}
	qname := ""
	for {
		q, err := p.Question()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return sb.String(), h.Response, nil, rcode, err
		}
		name := strings.TrimSuffix(q.Name.String(), ".")
		if qname == "" {
			qname = name
		}
		sb.WriteString(" " + typeName(q.Type) + " " + name)
	}
	if !h.Response {
		return sb.String(), false, nil, "", nil
	}
	answers = map[netip.Addr]string{}
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return sb.String(), true, answers, rcode, err
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return sb.String(), true, answers, rcode, err
			}
			a := netip.AddrFrom4(r.A)
			answers[a] = qname
			sb.WriteString(" A " + a.String())
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return sb.String(), true, answers, rcode, err
			}
			a := netip.AddrFrom16(r.AAAA)
			answers[a] = qname
			sb.WriteString(" AAAA " + a.String())
		case dnsmessage.TypeCNAME:
			r, err := p.CNAMEResource()
			if err != nil {
				return sb.String(), true, answers, rcode, err
			}
			sb.WriteString(" CNAME " + strings.TrimSuffix(r.CNAME.String(), "."))
		default:
			if err := p.SkipAnswer(); err != nil {
				return sb.String(), true, answers, rcode, err
			}
		}
	}
	return sb.String(), true, answers, rcode, nil
}

func typeName(t dnsmessage.Type) string {
	return strings.TrimPrefix(t.String(), "Type")
}

func rcodeName(r dnsmessage.RCode) string {
	switch r {
	case dnsmessage.RCodeFormatError:
		return "Format error"
	case dnsmessage.RCodeServerFailure:
		return "Server failure"
	case dnsmessage.RCodeNameError:
		return "No such name"
	case dnsmessage.RCodeNotImplemented:
		return "Not implemented"
	case dnsmessage.RCodeRefused:
		return "Refused"
	}
	return strings.TrimPrefix(r.String(), "RCode")
}
