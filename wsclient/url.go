package wsclient

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Target is a parsed endpoint URL: ws://, wss://, mqtt:// or mqtts://.
type Target struct {
	Scheme string // "ws", "wss", "mqtt" or "mqtts"
	Host   string // a name or an address, without brackets
	Port   int
	Path   string // the request target of a WebSocket ("/mqtt?x=y"); "" for mqtt(s)
}

// ErrBadURL is wrapped by every error of ParseURL.
var ErrBadURL = errors.New("bad URL")

// defaultPorts are the ports a scheme implies when the URL names none.
var defaultPorts = map[string]int{"ws": 80, "wss": 443, "mqtt": 1883, "mqtts": 8883}

// ParseURL reads s as a WebSocket (ws, wss) or MQTT (mqtt, mqtts) endpoint.
// The port defaults to the scheme's (80, 443, 1883, 8883) and must be
// 1-65535; a WebSocket path defaults to "/".
func ParseURL(s string) (Target, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Target{}, fmt.Errorf("%w %q: %v", ErrBadURL, s, err)
	}
	scheme := strings.ToLower(u.Scheme)
	def, ok := defaultPorts[scheme]
	switch {
	case u.Scheme == "":
		return Target{}, fmt.Errorf("%w %q: no scheme: write ws://, wss://, mqtt:// or mqtts:// before the host", ErrBadURL, s)
	case scheme == "http" || scheme == "https":
		return Target{}, fmt.Errorf("%w %q: scheme %s is a web page: for its WebSocket write %s://", ErrBadURL, s, scheme, map[string]string{"http": "ws", "https": "wss"}[scheme])
	case !ok:
		return Target{}, fmt.Errorf("%w %q: unknown scheme %q: want ws, wss, mqtt or mqtts", ErrBadURL, s, u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return Target{}, fmt.Errorf("%w %q: no host: want %s://HOST[:PORT]", ErrBadURL, s, scheme)
	case u.User != nil:
		return Target{}, fmt.Errorf("%w %q: credentials in the URL are not sent: use -u and -P", ErrBadURL, s)
	}
	t := Target{Scheme: scheme, Host: u.Hostname(), Port: def}
	if t.Host == "" {
		return Target{}, fmt.Errorf("%w %q: no host: want %s://HOST[:PORT]", ErrBadURL, s, scheme)
	}
	if strings.Contains(t.Host, ":") && !strings.HasPrefix(u.Host, "[") {
		// url.Parse splits "::1" at its last colon (host ":", port "1").
		return Target{}, fmt.Errorf("%w %q: an IPv6 address goes in brackets: %s://[ADDRESS]:PORT", ErrBadURL, s, scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Target{}, fmt.Errorf("%w %q: port %s is out of range 1-65535", ErrBadURL, s, p)
		}
		t.Port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return Target{}, fmt.Errorf("%w %q: empty port after ':'", ErrBadURL, s)
	}
	if t.WebSocket() {
		t.Path = u.EscapedPath()
		if t.Path == "" {
			t.Path = "/"
		}
		if u.RawQuery != "" {
			t.Path += "?" + u.RawQuery
		}
	} else if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return Target{}, fmt.Errorf("%w %q: %s:// has no path; for MQTT over WebSocket write ws:// or wss://", ErrBadURL, s, scheme)
	}
	if u.Fragment != "" {
		return Target{}, fmt.Errorf("%w %q: a fragment (#…) is never sent: remove it", ErrBadURL, s)
	}
	return t, nil
}

// WebSocket reports whether the target is ws:// or wss://.
func (t Target) WebSocket() bool { return t.Scheme == "ws" || t.Scheme == "wss" }

// TLS reports whether the target is wss:// or mqtts://.
func (t Target) TLS() bool { return t.Scheme == "wss" || t.Scheme == "mqtts" }

// HostPort is "host:port" ("[::1]:port" for IPv6).
func (t Target) HostPort() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) }

// WithPath returns t with another request target.
func (t Target) WithPath(p string) Target { t.Path = p; return t }

// String is the URL, with the port always written.
func (t Target) String() string { return t.Scheme + "://" + t.HostPort() + t.Path }
