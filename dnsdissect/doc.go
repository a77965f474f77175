// Package dnsdissect gives a DNS message the field tree an MQTT packet
// gets from codec.Dissect: Wireshark's display filter names (dns.id,
// dns.flags.rcode, dns.qry.name, dns.a, …) with values written as
// `tshark -T fields` writes them, and each field's offset and length in the
// message, so the page's packet panel highlights its bytes.
//
// It reads the message itself (RFC 1035, 4.1) rather than through
// golang.org/x/net/dns/dnsmessage, which would add 48 kB of brotli to the
// WebAssembly client every visitor downloads; its tests check it against
// both dnsmessage and tshark. It imports neither fmt nor reflect.
package dnsdissect
