package doctor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/wsclient"
)

// attempt is one upgrade tried.
type attempt struct {
	path    string
	offer   []string
	res     *wsclient.Result
	err     error
	upgrade bool // the server answered 101 (whatever it chose)
}

// upgrade opens and closes a WebSocket on path offering offer.
func (r *run) upgrade(ctx context.Context, path string, offer []string) attempt {
	ctx, cancel := context.WithTimeout(ctx, r.opt.Timeout)
	defer cancel()
	a := attempt{path: path, offer: offer}
	c, res, err := wsclient.Dial(ctx, r.t.WithPath(path), wsclient.Options{Dialer: r.dialer(nil), Subprotocols: offer, Origin: r.opt.Origin})
	a.res, a.err = res, err
	var we *wsclient.Error
	a.upgrade = err == nil || errors.As(err, &we) && we.Step == wsclient.StepSubprotocol
	if c != nil {
		closeQuietly(c)
	}
	return a
}

// closeQuietly closes a WebSocket, waiting at most a second for the close
// handshake.
func closeQuietly(c *wsclient.Conn) {
	done := make(chan struct{})
	go func() { defer close(done); c.Close() }()
	select {
	case <-done:
	case <-time.After(time.Second):
		c.CloseNow()
		<-done
	}
}

// answer says what an attempt got: "101 Switching Protocols, chose mqtt".
func (a attempt) answer() string {
	if a.res != nil && a.res.Status != "" {
		s := a.res.Status
		if a.upgrade {
			if a.res.Subprotocol != "" {
				s += ", chose " + a.res.Subprotocol
			} else {
				s += ", chose no subprotocol"
			}
		}
		return s
	}
	var we *wsclient.Error
	if errors.As(a.err, &we) {
		return we.Err.Error()
	}
	if a.err != nil {
		return a.err.Error()
	}
	return "no answer"
}

var offers = [][]string{{"mqtt"}, {"mqttv3.1"}, {}}

// webSocket checks the upgrade (finding a path that works) and the
// subprotocols; it reports whether to go on.
func (r *run) webSocket(ctx context.Context) bool {
	start := time.Now()
	c := Check{Step: "upgrade", Title: "WebSocket upgrade on " + r.t.Path, Verdict: OK}
	paths := r.paths()
	found, tried, fix := r.findPath(ctx, paths)
	c.Millis = ms(time.Since(start))
	c.Detail = strings.Join(tried, "; ")
	switch {
	case found == r.t.Path:
	case found != "":
		c.Verdict = Fail
		c.Fix = "use " + r.t.WithPath(found).String() + ": the server upgrades there, not on " + r.t.Path
		r.path = found
	default:
		c.Verdict, c.Fix = Fail, fix
		if c.Fix == "" {
			c.Fix = "no WebSocket endpoint found on " + strings.Join(paths, ", ") + ": check the port (mosquitto needs `protocol websockets` on its listener) and the path in the broker's documentation"
		}
	}
	r.add(c)
	if found == "" {
		for _, s := range []string{"subprotocol mqtt", "subprotocol mqttv3.1", "no subprotocol", "connect 3.1.1", "connect 5.0", "roundtrip"} {
			r.skip(s, s, "no WebSocket upgrade")
		}
		return false
	}
	return r.subprotocols(ctx)
}

// paths are the given path, then the common ones, each keeping the given
// query (a proxy's ?broker=…).
func (r *run) paths() []string {
	_, query, _ := strings.Cut(r.t.Path, "?")
	paths := []string{r.t.Path}
	for _, p := range r.opt.Paths {
		if query != "" {
			p += "?" + query
		}
		if p != r.t.Path {
			paths = append(paths, p)
		}
	}
	return paths
}

// findPath tries the paths in order, each with the offers until one gets
// 101, and returns the first path that upgraded ("" for none), what each
// answered, and the fix for the given path's failure.
func (r *run) findPath(ctx context.Context, paths []string) (found string, tried []string, fix string) {
	for i, p := range paths {
		var first attempt
		for j, o := range offers {
			a := r.upgrade(ctx, p, o)
			if j == 0 || a.upgrade {
				first = a
			}
			if a.upgrade || a.res == nil || a.res.Status == "" {
				break // upgraded, or not HTTP at all: other offers will not help
			}
		}
		tried = append(tried, "GET "+p+" → "+first.answer())
		if first.upgrade {
			return p, tried, ""
		}
		if i == 0 {
			var we *wsclient.Error
			if errors.As(first.err, &we) {
				fix = we.Fix
			}
		}
		if first.res == nil || first.res.Status == "" {
			break // no HTTP answer: no other path will have one
		}
	}
	return "", tried, fix
}

// subprotocols checks what the server does with mqtt, mqttv3.1 and none.
func (r *run) subprotocols(ctx context.Context) bool {
	works := map[string]bool{}
	for _, o := range offers {
		name := "no subprotocol"
		title := "a client offering no subprotocol"
		if len(o) > 0 {
			name = "subprotocol " + o[0]
			title = "subprotocol " + o[0] + " offered"
		}
		start := time.Now()
		a := r.upgrade(ctx, r.path, o)
		c := Check{Step: name, Title: title, Verdict: OK, Detail: a.answer(), Millis: ms(time.Since(start))}
		var we *wsclient.Error
		errors.As(a.err, &we)
		if we != nil && we.Step == wsclient.StepSubprotocol {
			c.Detail = we.Err.Error()
		}
		switch {
		case len(o) == 0 && a.err == nil:
			c.Detail = "accepted: " + c.Detail + " (clients that offer none, like some MQTT 3.1 libraries, work)"
			works[""] = true
		case len(o) == 0:
			c.Detail = "refused: " + c.Detail + " (clients must offer mqtt, as MQTT requires [MQTT-6.0.0-3])"
		case a.err == nil:
			works[o[0]] = true
		case o[0] == "mqttv3.1":
			c.Verdict = Warn
			c.Fix = "clients offering only mqttv3.1 (MQTT 3.1, paho.mqtt.javascript with mqttVersion 3) cannot connect; offer mqtt"
			if we != nil && we.Step == wsclient.StepSubprotocol {
				c.Fix = we.Fix
			}
		default:
			c.Verdict = Fail
			if we != nil {
				c.Fix = we.Fix
			}
			if we != nil && we.Step != wsclient.StepSubprotocol {
				c.Fix = "the server refuses the upgrade when offered mqtt, the subprotocol MQTT 3.1.1 and 5.0 require [MQTT-6.0.0-3]; configure the broker or the proxy in front of it to accept it"
			}
		}
		r.add(c)
	}
	for _, o := range offers {
		k := ""
		if len(o) > 0 {
			k = o[0]
		}
		if works[k] {
			r.offer = slices.Clone(o)
			return true
		}
	}
	for _, s := range []string{"connect 3.1.1", "connect 5.0", "roundtrip"} {
		r.skip(s, s, "no subprotocol works")
	}
	return false
}
