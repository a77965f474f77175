package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/net/dns/dnsmessage"
)

// Zone is the demo DNS zone's name.
const Zone = "lifeline.test"

// BrokerName is the name the zone gives the embedded broker.
const BrokerName = "broker." + Zone

// DNS is a running authoritative DNS server for one zone, over UDP.
type DNS struct {
	pc      net.PacketConn
	zone    string
	ttl     uint32
	mu      sync.RWMutex
	records map[string][]netip.Addr // lower-case name without the final dot
	done    chan struct{}
	log     *slog.Logger
}

// StartDNS serves zone on addr (UDP; port 0 picks a free one) until Close.
// Names get their addresses with Set. Names in the zone without records are
// answered NXDOMAIN, names outside it REFUSED.
func StartDNS(addr, zone string, log *slog.Logger) (*DNS, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s: %w", addr, ErrAddrInUse)
		}
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &DNS{pc: pc, zone: strings.ToLower(zone), ttl: 60, records: map[string][]netip.Addr{},
		done: make(chan struct{}), log: log.With("component", "dns")}
	go d.serve()
	return d, nil
}

// Set gives name (in the zone) the addresses addrs, replacing any before.
func (d *DNS) Set(name string, addrs ...netip.Addr) {
	d.mu.Lock()
	d.records[canonical(name)] = addrs
	d.mu.Unlock()
}

// Addr returns the address the server answers on.
func (d *DNS) Addr() *net.UDPAddr { return d.pc.LocalAddr().(*net.UDPAddr) }

// Close stops the server.
func (d *DNS) Close() error {
	err := d.pc.Close()
	<-d.done
	return err
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (d *DNS) serve() {
	defer close(d.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := d.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		resp, err := d.answer(buf[:n])
		if err != nil {
			d.log.Debug("dropped a DNS message", "from", from.String(), "err", err)
			continue
		}
		_, _ = d.pc.WriteTo(resp, from)
	}
}

// answer builds the response to one query message.
func (d *DNS) answer(msg []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return nil, err
	}
	if h.Response {
		return nil, errors.New("not a query")
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	name := canonical(q.Name.String())
	var answers []netip.Addr
	switch {
	case h.OpCode != 0:
		rh.RCode = dnsmessage.RCodeNotImplemented
	case name != d.zone && !strings.HasSuffix(name, "."+d.zone):
		rh.Authoritative = false
		rh.RCode = dnsmessage.RCodeRefused
	default:
		d.mu.RLock()
		addrs, ok := d.records[name]
		d.mu.RUnlock()
		if !ok && name != d.zone {
			rh.RCode = dnsmessage.RCodeNameError
		}
		for _, a := range addrs {
			if (q.Type == dnsmessage.TypeA && a.Is4()) || (q.Type == dnsmessage.TypeAAAA && a.Is6()) {
				answers = append(answers, a)
			}
		}
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), rh)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	for _, a := range answers {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: d.ttl}
		if a.Is4() {
			err = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
		} else {
			err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
