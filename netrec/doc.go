// Package netrec opens a broker connection the way a device would, and
// records what happened on the way as trace entries: the DNS query and
// response messages (captured from Go's own resolver, parsed with
// golang.org/x/net/dns/dnsmessage), the TCP three-way handshake behind
// connect() with the kernel's round-trip time (TCP_INFO), the TLS handshake,
// and, on the returned connection, which side closed and how (FIN or RST).
//
// A Dialer checks every resolved address with its Check function right before
// connecting (and again in the socket's Control hook), so a policy cannot be
// bypassed by a name that resolves differently later (DNS rebinding).
//
// Hosts written as numbers are read the way browsers and inet_aton read them
// ("127.1", "2130706433", "0x7f.1" are 127.0.0.1) and never sent to DNS;
// "localhost" and names under ".localhost" are loopback (RFC 6761).
//
// netrec does not forward bytes or decide policy; the proxy and the CLI do.
package netrec
