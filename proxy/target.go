package proxy

import (
	"errors"
	"net"
	"strconv"
	"strings"
)

// CloseBadTarget is the close code of a /mqtt whose broker parameter is not
// HOST:PORT (no port, a port out of range): nothing was dialed, and no
// policy was asked. 4000–4999 are for applications (RFC 6455 7.4.2).
const CloseBadTarget = 4002

// errNoTarget is a session with no broker parameter and no default broker.
var errNoTarget = errors.New("no broker: give one as HOST:PORT (broker=…), or start lifeline serve with -default-broker")

// parseTarget splits a broker parameter into host and port, or says in
// words what is missing: the port most often (a device's broker name, as
// people write it), which gets its own answer.
func parseTarget(target string) (host string, port int, err error) {
	if target == "" {
		return "", 0, errNoTarget
	}
	host, p, err := net.SplitHostPort(target)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return "", 0, errors.New("no port: give one, as in " + net.JoinHostPort(strings.Trim(target, "[]"), "1883") + " (8883 for TLS)")
		}
		return "", 0, errors.New(strconv.Quote(target) + " is not HOST:PORT")
	}
	n, err := strconv.Atoi(p)
	switch {
	case host == "":
		return "", 0, errors.New("no host before the port " + strconv.Quote(p))
	case p == "":
		return "", 0, errors.New("no port after " + strconv.Quote(host+":") + ": give one, as in " + net.JoinHostPort(host, "1883") + " (8883 for TLS)")
	case err != nil || n < 1 || n > 65535:
		return "", 0, errors.New("port " + strconv.Quote(p) + " is not a number from 1 to 65535")
	}
	return host, n, nil
}
