package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// checkUpgrade must refuse exactly what gorilla's Upgrade refuses, with the
// same status, or the proxy would dial for a request gorilla then refuses.
// Upgrade on a ResponseWriter that cannot be hijacked makes every check and
// then fails with 500 for want of a hijacker: that is "valid". This breaks
// if a gorilla upgrade changes its checks.
func TestCheckUpgradeMatchesGorilla(t *testing.T) {
	s := New(Config{Hosts: []string{"proxy.test"}, Origins: []string{"http://proxy.test"}})
	conns := []string{"Upgrade", "keep-alive, Upgrade", "keep-alive", "", "upgrade,", "a b, Upgrade", "Upgrade;x", "UPGRADE , close"}
	upgrades := []string{"websocket", "WebSocket", "h2c", "", "websocket/13", "h2c, websocket"}
	methods := []string{"GET", "HEAD", "POST"}
	versions := []string{"13", "8", "", "8, 13", "13 14", "13;x", " 13 "}
	keys := []string{"dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", "", "not base64!", "dGhlIHNhbXBsZSBub25jZQ"}
	origins := []string{"http://proxy.test", "http://evil.example", ""}
	set := func(h http.Header, k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	n, valid := 0, 0
	for _, c := range conns {
		for _, u := range upgrades {
			for _, m := range methods {
				for _, v := range versions {
					for _, k := range keys {
						for _, o := range origins {
							r := httptest.NewRequest(m, "http://proxy.test/mqtt", nil)
							set(r.Header, "Connection", c)
							set(r.Header, "Upgrade", u)
							set(r.Header, "Sec-WebSocket-Version", v)
							set(r.Header, "Sec-WebSocket-Key", k)
							set(r.Header, "Origin", o)
							gotStatus, gotReason := s.checkUpgrade(r)
							var gStatus int
							var gErr error
							up := s.upgrader
							up.Error = func(_ http.ResponseWriter, _ *http.Request, status int, reason error) {
								gStatus, gErr = status, reason
							}
							up.Upgrade(httptest.NewRecorder(), r, nil)
							wantValid := gStatus == http.StatusInternalServerError && strings.Contains(gErr.Error(), "Hijacker")
							n++
							switch {
							case wantValid && gotStatus != 0:
								t.Errorf("%s Connection %q Upgrade %q Version %q Key %q Origin %q: refused %d %q, gorilla accepts",
									m, c, u, v, k, o, gotStatus, gotReason)
							case !wantValid && gotStatus != gStatus:
								t.Errorf("%s Connection %q Upgrade %q Version %q Key %q Origin %q: status %d %q, gorilla %d %v",
									m, c, u, v, k, o, gotStatus, gotReason, gStatus, gErr)
							case wantValid:
								valid++
							}
						}
					}
				}
			}
		}
	}
	if valid == 0 || valid == n {
		t.Fatalf("%d of %d requests valid: the table does not test both ways", valid, n)
	}
	t.Logf("%d requests, %d valid", n, valid)
}

func TestCheckSubprotocol(t *testing.T) {
	s := New(Config{})
	for _, tt := range []struct {
		offered string
		ok      bool
	}{
		{"", true}, {"mqtt", true}, {"mqttv3.1", true}, {"chat, mqtt", true}, {" mqtt ", true},
		{"chat", false}, {"MQTT", false}, {"mqttv5", false}, {"chat, superchat", false},
	} {
		r := httptest.NewRequest("GET", "/mqtt", nil)
		if tt.offered != "" {
			r.Header.Set("Sec-WebSocket-Protocol", tt.offered)
		}
		status, reason := s.checkSubprotocol(r)
		if (status == 0) != tt.ok {
			t.Errorf("offered %q: status %d %q, want ok=%v", tt.offered, status, reason, tt.ok)
		}
		if !tt.ok && !strings.Contains(reason, "mqtt") {
			t.Errorf("offered %q: reason %q does not say what to ask for", tt.offered, reason)
		}
	}
}
