package proxy

import (
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"
)

// checkUpgrade makes the checks gorilla's Upgrader.Upgrade makes of a
// request, in its order and with its statuses, so that they can all be made
// before the broker is looked up or dialed; Upgrade, called after the dial,
// then fails only if the connection does. It returns the status and the
// reason of a refusal, or 0. The equivalence is tested on the gorilla
// version in go.mod (TestCheckUpgradeMatchesGorilla).
func (s *Server) checkUpgrade(r *http.Request) (status int, reason string) {
	const notWS = "not a WebSocket upgrade: "
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade"):
		return http.StatusBadRequest, notWS + "no 'upgrade' token in the Connection header"
	case !headerHasToken(r.Header, "Upgrade", "websocket"):
		return http.StatusBadRequest, notWS + "no 'websocket' token in the Upgrade header"
	case r.Method != http.MethodGet:
		return http.StatusMethodNotAllowed, notWS + "the method is " + r.Method + ", not GET"
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		return http.StatusBadRequest, notWS + "Sec-WebSocket-Version is not 13"
	case !s.originOK(r):
		return http.StatusForbidden, "Origin " + r.Header.Get("Origin") + " is not allowed (see -origins)"
	case !validKey(r.Header.Get("Sec-Websocket-Key")):
		return http.StatusBadRequest, notWS + "Sec-WebSocket-Key is not 16 bytes in base64"
	}
	return 0, ""
}

// checkSubprotocol refuses a request that offers subprotocols of which the
// upgrader accepts none (gorilla would answer 101 without one). A request
// that offers none passes: MQTT clients outside browsers may not name it.
func (s *Server) checkSubprotocol(r *http.Request) (status int, reason string) {
	offered := websocket.Subprotocols(r)
	if len(offered) == 0 {
		return 0, ""
	}
	for _, p := range offered {
		for _, ours := range s.upgrader.Subprotocols {
			if p == ours {
				return 0, ""
			}
		}
	}
	return http.StatusBadRequest, "subprotocol " + strings.Join(offered, ", ") + " is not MQTT: ask for " +
		strings.Join(s.upgrader.Subprotocols, " or ")
}

// headerHasToken reports whether a comma-separated list in header name
// holds token value (ASCII case-insensitive). As gorilla's own check, a
// header value stops being read at the first element that is not a token.
func headerHasToken(h http.Header, name, value string) bool {
	for _, s := range h[http.CanonicalHeaderKey(name)] {
		for {
			s = strings.TrimLeft(s, " \t\r\n")
			i := 0
			for i < len(s) && isTokenOctet(s[i]) {
				i++
			}
			t := s[:i]
			s = strings.TrimLeft(s[i:], " \t\r\n")
			if t == "" || (s != "" && s[0] != ',') {
				break
			}
			if asciiEqualFold(t, value) {
				return true
			}
			if s == "" {
				break
			}
			s = s[1:]
		}
	}
	return false
}

// isTokenOctet reports whether c may appear in an HTTP token (RFC 9110, 5.6.2).
func isTokenOctet(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// validKey reports whether a Sec-WebSocket-Key is 16 bytes in base64
// (RFC 6455, 4.1).
func validKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}
