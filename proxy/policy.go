package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lifeline-mqtt/lifeline/netrec"
)

// Policy decides which brokers browsers may reach through the proxy. It is
// applied twice: to the name before DNS (so names nobody allowed are not even
// looked up) and to every resolved address right before connecting, which is
// the check that counts (DNS rebinding cannot get around it).
type Policy struct {
	// Allow lists the targets browsers may reach, as host:port patterns:
	// "broker.example.com:8883", "*.example.com:1883", "*:1883",
	// "203.0.113.7:*", "[2001:db8::1]:1883", "192.0.2.0/24:1883". A host
	// pattern matches the name as given or the address it resolved to.
	Allow []Pattern
	// AllowPrivate permits loopback, private, link-local and other
	// non-public addresses (see Classify).
	AllowPrivate bool
	// Exempt addresses (the embedded broker) are always allowed.
	Exempt []netip.AddrPort
	// Zone names (the embedded demo zone) skip the name check; their
	// addresses are still checked.
	Zone string
	// OwnAddrs lists this machine's own addresses, which are refused like
	// private ones unless AllowPrivate (a public address of the host
	// reaches its own services as loopback does). Nil means HostAddrs,
	// read again at every check so that an address added later counts.
	OwnAddrs func() ([]netip.Addr, error)
}

// Pattern is one entry of an allowlist: host and port patterns.
type Pattern struct {
	Host   string       // lower case; "*" any; "*.example.com" subdomains; an address
	Prefix netip.Prefix // set when Host is an address or a CIDR
	Port   int          // 0 means any port
}

// ParseAllow reads a comma- or space-separated list of host:port patterns.
func ParseAllow(list string) ([]Pattern, error) {
	var out []Pattern
	for _, s := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		p, err := parsePattern(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePattern(s string) (Pattern, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Pattern{}, fmt.Errorf("allow pattern %q: want host:port (port may be *)", s)
	}
	host, port := strings.ToLower(s[:i]), s[i+1:]
	var p Pattern
	if port != "*" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return Pattern{}, fmt.Errorf("allow pattern %q: bad port %q", s, port)
		}
		p.Port = int(n)
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return Pattern{}, fmt.Errorf("allow pattern %q: empty host", s)
	}
	p.Host = host
	if pre, err := netip.ParsePrefix(host); err == nil {
		p.Prefix = pre.Masked()
	} else if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		p.Prefix = netip.PrefixFrom(a, a.BitLen())
	} else if strings.Contains(host[1:], "*") || strings.ContainsAny(host, "/") {
		return Pattern{}, fmt.Errorf("allow pattern %q: a host is a name, *.name, *, an address or a CIDR", s)
	}
	return p, nil
}

func (p Pattern) String() string {
	port := "*"
	if p.Port != 0 {
		port = strconv.Itoa(p.Port)
	}
	if strings.Contains(p.Host, ":") {
		return "[" + p.Host + "]:" + port
	}
	return p.Host + ":" + port
}

func (p Pattern) matchName(host string, port int) bool {
	if p.Port != 0 && p.Port != port {
		return false
	}
	if p.Prefix.IsValid() {
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case p.Host == "*":
		return true
	case strings.HasPrefix(p.Host, "*."):
		return strings.HasSuffix(host, p.Host[1:])
	}
	return host == p.Host
}

func (p Pattern) matchAddr(a netip.Addr, port int) bool {
	if p.Port != 0 && p.Port != port {
		return false
	}
	if p.Host == "*" {
		return true
	}
	return p.Prefix.IsValid() && p.Prefix.Contains(a.Unmap())
}

// Refusal is a policy decision against a target; Error is the text the page
// shows.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }
func (r *Refusal) Unwrap() error { return netrec.ErrRefused }

// CheckName refuses, before any DNS lookup, a name no pattern could allow.
// Addresses, numeric forms, localhost and zone names pass to CheckAddr.
func (p *Policy) CheckName(host string, port int) error {
	if _, isAddr := netrec.ParseHost(host); isAddr || netrec.IsLocalhostName(host) {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if p.Zone != "" && (name == p.Zone || strings.HasSuffix(name, "."+p.Zone)) {
		return nil
	}
	for _, pat := range p.Allow {
		if pat.matchName(host, port) || (pat.Prefix.IsValid() && (pat.Port == 0 || pat.Port == port)) {
			return nil
		}
	}
	return &Refusal{fmt.Sprintf("%s is not in the allowlist (-allow %s)", net.JoinHostPort(host, strconv.Itoa(port)), p.allowString())}
}

// CheckAddr decides on one resolved address of host, right before the
// connection is made.
func (p *Policy) CheckAddr(host string, ap netip.AddrPort) error {
	a := ap.Addr().Unmap()
	ap = netip.AddrPortFrom(a, ap.Port())
	for _, e := range p.Exempt {
		if e == ap || (e.Addr().IsUnspecified() && e.Port() == ap.Port() && a.IsLoopback()) {
			return nil
		}
	}
	port := int(ap.Port())
	allowed := false
	for _, pat := range p.Allow {
		if pat.matchName(host, port) || pat.matchAddr(a, port) {
			allowed = true
			break
		}
	}
	if !allowed {
		return &Refusal{fmt.Sprintf("%s (%s) is not in the allowlist (-allow %s)", host, ap, p.allowString())}
	}
	if p.AllowPrivate {
		return nil
	}
	class := Classify(a)
	if class == "" {
		own, err := p.isOwn(a)
		if err != nil {
			return &Refusal{fmt.Sprintf("%s resolves to %s; refused: %v", host, a, err)}
		}
		if own {
			class = "this machine's own"
		}
	}
	if class != "" {
		return &Refusal{fmt.Sprintf("%s resolves to %s, a %s address: refused without -allow-private", host, a, class)}
	}
	return nil
}

// isOwn reports whether a is one of this machine's addresses.
func (p *Policy) isOwn(a netip.Addr) (bool, error) {
	list := p.OwnAddrs
	if list == nil {
		list = HostAddrs
	}
	own, err := list()
	if err != nil {
		return false, fmt.Errorf("cannot list this machine's own addresses to rule them out: %w", err)
	}
	a = a.WithZone("").Unmap()
	for _, o := range own {
		if o.WithZone("").Unmap() == a {
			return true, nil
		}
	}
	return false, nil
}

// HostAddrs returns the addresses of this machine's network interfaces, as
// the kernel lists them now.
func HostAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if x, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, x.Unmap())
		}
	}
	return out, nil
}

func (p *Policy) allowString() string {
	if len(p.Allow) == 0 {
		return `""`
	}
	s := make([]string, len(p.Allow))
	for i, pat := range p.Allow {
		s[i] = pat.String()
	}
	return strings.Join(s, ",")
}

// ErrRefused is matched by every policy refusal (errors.Is).
var ErrRefused = netrec.ErrRefused

// IsRefusal reports whether err is a policy refusal.
func IsRefusal(err error) bool { return errors.Is(err, ErrRefused) }

type rangeClass struct {
	prefix netip.Prefix
	class  string
}

// nonPublic lists the address ranges that are not the public Internet. The
// most specific prefix comes first.
var nonPublic = func() []rangeClass {
	t := []struct{ p, c string }{
		{"169.254.169.254/32", "cloud metadata"},
		{"0.0.0.0/32", "unspecified"},
		{"0.0.0.0/8", "this-network"},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "shared (carrier-grade NAT)"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignment"},
		{"192.0.2.0/24", "documentation"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"255.255.255.255/32", "broadcast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::ffff:0:0/96", "IPv4-mapped"}, // only reached for Addrs Classify did not unmap
		{"::/96", "IPv4-compatible (deprecated)"},
		{"64:ff9b::/96", "NAT64"},
		{"64:ff9b:1::/48", "NAT64"},
		{"100::/64", "discard"},
		{"2001::/23", "IETF protocol assignment"},
		{"2001:db8::/32", "documentation"},
		{"2002::/16", "6to4"},
		{"fc00::/7", "private (unique local)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local (deprecated)"},
		{"ff00::/8", "multicast"},
	}
	out := make([]rangeClass, len(t))
	for i, r := range t {
		out[i] = rangeClass{netip.MustParsePrefix(r.p), r.c}
	}
	return out
}()

// siit is the IPv4-translated range of SIIT (RFC 2765, ::ffff:0:a.b.c.d).
var siit = netip.MustParsePrefix("::ffff:0:0:0/96")

// Classify returns the kind of a non-public address ("loopback", "private",
// "link-local", "cloud metadata", "multicast", "unspecified", …), or "" for a
// public one. IPv4-mapped and IPv4-translated (SIIT) IPv6 addresses are
// classified as the IPv4 address they carry. The machine's own public
// addresses are not known here (see Policy.OwnAddrs).
func Classify(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	a = a.WithZone("").Unmap()
	if siit.Contains(a) {
		b := a.As16()
		a = netip.AddrFrom4([4]byte(b[12:]))
	}
	for _, r := range nonPublic {
		if r.prefix.Contains(a) {
			return r.class
		}
	}
	return ""
}
