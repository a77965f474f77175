package proxy

import (
	"crypto/subtle"
	"errors"
	"strconv"
	"time"
)

// A page's session id is what a load balancer routes by: the page picks it
// (128 random bits from the browser's crypto, as 32 lowercase hex digits)
// and sends it as the session parameter of both /trace and /mqtt, so a
// balancer that hashes that one parameter brings both to the same instance.
// The id is only an address, not a secret: the /mqtt request must also carry
// the token its trace channel sent in hello, which binds it to the page
// that opened the channel.
const (
	// SessionIDLen is the length of a session id in hex digits.
	SessionIDLen = 32

	// CloseSessionElsewhere is the close code of a /mqtt whose session this
	// instance does not hold (its /trace went to another instance, or the
	// channel has ended): 4000–4999 are for applications (RFC 6455 7.4.2).
	CloseSessionElsewhere = 4001

	// sessionsRemembered bounds how many ended session ids an instance
	// keeps to refuse their reuse; sessionMemory how long.
	sessionsRemembered = 1 << 16
	sessionMemory      = time.Hour
)

// Errors about session ids, in the words the page shows.
var (
	errSessionReused  = errors.New("session id already used on this instance: the page picks a new random id for each trace channel")
	errSessionNoToken = errors.New("session id without a trace token: send the token of the trace channel's hello as trace=")
	errSessionToken   = errors.New("the trace token does not belong to this session (forged, or from another page): refused")
)

// CheckSessionID reports whether id is a well-formed session id: exactly
// SessionIDLen lowercase hex digits.
func CheckSessionID(id string) error {
	if len(id) != SessionIDLen {
		return errors.New("session id must be " + strconv.Itoa(SessionIDLen) +
			" lowercase hex digits (128 random bits from the page), got " + strconv.Itoa(len(id)) + " characters")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return errors.New("session id must be lowercase hex digits (0-9, a-f), got " +
				strconv.Quote(string(rune(c))) + " at " + strconv.Itoa(i))
		}
	}
	return nil
}

// sessionElsewhere says why this instance cannot serve a /mqtt of session
// id: it never held it (the balancer split the page's two connections), or
// its trace channel has ended here. Either fits a close frame's 123 bytes.
func sessionElsewhere(id string, ended bool) string {
	if ended {
		return "session " + id[:8] + "… has ended on this instance (its trace channel closed): reconnect to start a new one"
	}
	return "session " + id[:8] + "… is not held by this instance (its /trace went to another): route both by the session parameter"
}

// tokenMatches compares a trace token in constant time.
func tokenMatches(got, want string) bool {
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// claimSession registers tc under the page's session id, or says why not:
// the id is malformed, or open or used before on this instance. The caller
// holds no lock.
func (h *hub) claimSession(tc *traceChannel, id string) error {
	if err := CheckSessionID(id); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySession == nil {
		h.bySession = map[string]*traceChannel{}
		h.ended = map[string]time.Time{}
	}
	if _, open := h.bySession[id]; open {
		return errSessionReused
	}
	if at, ok := h.ended[id]; ok && time.Since(at) < sessionMemory {
		return errSessionReused
	}
	tc.sessionID = id
	h.bySession[id] = tc
	return nil
}

// releaseSession forgets tc's session as open and remembers it as ended;
// beyond sessionsRemembered memories it drops the expired ones, and then
// others, to stay bounded. h.mu is held.
func (h *hub) releaseSession(tc *traceChannel) {
	if tc.sessionID == "" || h.bySession[tc.sessionID] != tc {
		return
	}
	delete(h.bySession, tc.sessionID)
	now := time.Now()
	if len(h.ended) >= sessionsRemembered {
		for id, at := range h.ended {
			if now.Sub(at) >= sessionMemory || len(h.ended) >= sessionsRemembered {
				delete(h.ended, id)
			}
		}
	}
	h.ended[tc.sessionID] = now
}

// sessionChannel finds the trace channel of a /mqtt request's session and
// token. With a session id, the channel must be this instance's and the
// token its own; without one, the token alone names the channel (clients
// that predate session ids). code and reason say why not, for the close
// frame; reason names the refusal for the metrics.
func (h *hub) sessionChannel(id, token string) (tc *traceChannel, code int, why string, reason string) {
	if id == "" {
		if tc = h.get(token); tc == nil {
			return nil, 1008, "unknown trace token (open /trace first)", RefusedTraceToken
		}
		return tc, 0, "", ""
	}
	if err := CheckSessionID(id); err != nil {
		return nil, 1008, err.Error(), RefusedSessionID
	}
	if token == "" {
		return nil, 1008, errSessionNoToken.Error(), RefusedSessionID
	}
	h.mu.Lock()
	tc = h.bySession[id]
	_, ended := h.ended[id]
	h.mu.Unlock()
	switch {
	case tc == nil:
		return nil, CloseSessionElsewhere, sessionElsewhere(id, ended), RefusedSessionElsewhere
	case !tokenMatches(token, tc.token):
		return nil, 1008, errSessionToken.Error(), RefusedSessionID
	}
	return tc, 0, "", ""
}
