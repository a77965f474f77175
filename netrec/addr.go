package netrec

import (
	"net/netip"
	"strconv"
	"strings"
)

// ParseHost reads a host as an IP address: an IPv6 or IPv4 literal (with or
// without brackets, IPv4-mapped forms included), or a legacy numeric IPv4 form
// that inet_aton and browsers accept: one to four parts in decimal, octal
// (leading 0) or hexadecimal (0x), the last part filling the remaining bytes
// ("127.1", "2130706433", "0x7f000001", "0177.0.0.1"). ok is false for a name.
func ParseHost(host string) (addr netip.Addr, ok bool) {
	h, open := strings.CutPrefix(host, "[")
	h, closed := strings.CutSuffix(h, "]")
	if open != closed {
		return netip.Addr{}, false // "[::1" or "::1]" is no address
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if strings.ContainsAny(a.Zone(), "[]") {
			return netip.Addr{}, false // a zone cannot hold brackets ("::%]]")
		}
		return a, true
	}
	if open {
		return netip.Addr{}, false // brackets hold IPv6 literals only
	}
	return parseLegacyIPv4(host)
}

func parseLegacyIPv4(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(s, ".") // "127.0.0.1." is still the address
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		v, ok := parseNumber(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	last := len(parts) - 1
	for i := range last {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
	}
	// The last part fills the bytes the earlier parts left.
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	var b [4]byte
	for i := range last {
		b[i] = byte(vals[i])
	}
	v := vals[last]
	for i := 3; i >= last; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return netip.AddrFrom4(b), true
}

// parseNumber reads one part of a numeric IPv4 host: decimal, 0-prefixed
// octal or 0x-prefixed hexadecimal, at most 32 bits.
func parseNumber(p string) (uint64, bool) {
	base := 10
	switch {
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
		if p == "" { // "0x" alone is zero for inet_aton
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	if p == "" || p[0] == '+' || p[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(p, base, 32)
	if err != nil {
		return 0, false
	}
	return v, true
}

// IsLocalhostName reports whether host is "localhost" or a name under
// ".localhost", which resolve to loopback without DNS (RFC 6761, 6.3).
func IsLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
