package embedded

import (
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// mochi v2.7.9 delivers each message to each subscriber at once, keeps
// every unacknowledged QoS 1/2 message in the client's "inflight" store,
// and drops a message without any hook when that store is full ("client
// store quota reached" in its log); its own flow control (a client's
// Receive Maximum) deletes a held message from the store once sent, so its
// acknowledgement is ignored and the quota never comes back. So the
// embedded broker delivers messages itself, with mochi's hooks: the
// queue hook below takes every recipient of a PUBLISH out of mochi's hands
// (OnSelectSubscribers — called for every topic outside $SYS, since the
// hook holds a shared subscription to "#" that no client owns), queues
// the message per client within the limits (in messages and bytes, per
// client and in total), sends at most the client's in-flight window
// (Receive Maximum, or -broker-max-inflight) of QoS 1/2 messages at once
// and the next one when one is acknowledged, and reports every message it
// drops, with the reason, to the client's watchers (the proxy's trace) and
// in its counts (/healthz). Retained messages sent on SUBSCRIBE take the
// same queue: the hook asks mochi not to send them (Retain Handling 2 on
// the stored subscription) and sends them itself once the SUBACK is out.

const (
	hookID       = "lifeline-queue"
	hookClientID = "lifeline.queue"          // owns the shared subscription; never a client
	hookFilter   = "$share/lifeline.queue/#" // so OnSelectSubscribers sees every publish
	messageOver  = 0                         // bytes counted per message beyond topic and payload
	noQuota      = int(^uint16(0))           // "no window": the largest Receive Maximum
	replayKeyFmt = "%p/%d"                   // client pointer and SUBSCRIBE packet id
)

// queued is a message waiting for one client.
type queued struct {
	pk   packets.Packet // ready to send, without a packet id
	size int64
}

// clientQueue is what the broker holds for one client id (its session).
type clientQueue struct {
	id       string
	q        []queued         // waiting for the window, oldest first
	qBytes   int64            // bytes in q
	out      []queued         // taken from q, for the send loop to write (QoS 1/2 ones have their packet id and are in flight)
	outBytes int64            // bytes of the QoS 0 messages in out
	inflight map[uint16]int64 // QoS 1/2 sent by the hook and not acknowledged: packet id → bytes
	inBytes  int64            // bytes in inflight
	sender   *mqtt.Client     // the connection a send loop runs for, if any
	// maxQueued, when > 0, is the client's own smaller queue limit: the
	// CONNECT user property MaxQueuedProperty (MQTT 5), for lessons that
	// show a queue filling without a thousand messages.
	maxQueued int
}

// MaxQueuedProperty is the CONNECT user property (MQTT 5) by which a
// client asks for a queue shorter than -broker-max-queued, e.g.
// "lifeline-max-queued: 5"; a larger value than the broker's is ignored.
const MaxQueuedProperty = "lifeline-max-queued"

// watcher receives the broker.drop entries of one client id.
type watcher struct{ emit func(trace.Entry) }

// replay is a SUBSCRIBE whose retained messages wait for its SUBACK.
type replay struct {
	subs []packets.Subscription
}

// queueHook is the embedded broker's delivery: see the comment above.
type queueHook struct {
	mqtt.HookBase
	srv *mqtt.Server
	lim BrokerLimits
	log *slog.Logger

	mu       sync.Mutex
	clients  map[string]*clientQueue
	total    int64            // bytes in every client's queue and in flight
	retained map[string]int64 // retained message bytes by topic
	retBytes int64
	drops    map[string]int64 // by reason
	watchers map[string]map[*watcher]struct{}
	replays  map[string]replay
}

func newQueueHook(lim BrokerLimits, log *slog.Logger) *queueHook {
	return &queueHook{lim: lim, log: log, clients: map[string]*clientQueue{},
		retained: map[string]int64{}, drops: map[string]int64{},
		watchers: map[string]map[*watcher]struct{}{}, replays: map[string]replay{}}
}

func (h *queueHook) ID() string { return hookID }

func (h *queueHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnSelectSubscribers, mqtt.OnPublish, mqtt.OnQosComplete, mqtt.OnQosDropped,
		mqtt.OnDisconnect, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished, mqtt.OnClientExpired,
		mqtt.OnSubscribe, mqtt.OnPacketSent, mqtt.OnRetainedExpired, mqtt.OnConnect, mqtt.OnPublishDropped:
		return true
	}
	return false
}

// install subscribes the hook's shared subscription; call after Serve.
func (h *queueHook) install(srv *mqtt.Server) {
	h.srv = srv
	srv.Topics.Subscribe(hookClientID, packets.Subscription{Filter: hookFilter, Qos: 2})
}

func msgSize(pk *packets.Packet) int64 {
	return int64(len(pk.Payload) + len(pk.TopicName) + messageOver)
}

func (h *queueHook) queue(id string) *clientQueue {
	cq := h.clients[id]
	if cq == nil {
		cq = &clientQueue{id: id, inflight: map[uint16]int64{}}
		h.clients[id] = cq
	}
	return cq
}

// forget removes an empty queue of a session that is gone.
func (h *queueHook) forget(cq *clientQueue) {
	if len(cq.q) == 0 && len(cq.out) == 0 && len(cq.inflight) == 0 && cq.sender == nil {
		delete(h.clients, cq.id)
	}
}

// window is how many QoS 1/2 messages cl may have unacknowledged.
func (h *queueHook) window(cl *mqtt.Client) int {
	w := int(h.lim.MaxInflight)
	if cl.Properties.ProtocolVersion == 5 {
		if rm := int(cl.Properties.Props.ReceiveMaximum); rm > 0 && rm < w {
			w = rm // [MQTT-3.3.4-9]
		}
	}
	return w
}

// OnSelectSubscribers takes every recipient of pk and queues pk for each.
func (h *queueHook) OnSelectSubscribers(subs *mqtt.Subscribers, pk packets.Packet) *mqtt.Subscribers {
	if len(subs.SharedSelected) == 0 {
		subs.SelectShared()
	}
	delete(subs.SharedSelected, hookClientID)
	subs.MergeSharedSelected()
	recipients := subs.Subscriptions
	// mochi merges SharedSelected into Subscriptions after this hook and
	// selects again when it is empty: leave it only the hook's own id, which
	// is no client, so mochi sends nothing itself.
	subs.Subscriptions = map[string]packets.Subscription{}
	subs.SharedSelected = map[string]packets.Subscription{hookClientID: {Filter: hookFilter}}
	ids := make([]string, 0, len(recipients))
	for id := range recipients {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		h.deliver(id, recipients[id], pk)
	}
	return subs
}

// deliver queues pk for client id as its subscription sub asks, or drops
// it and says so.
func (h *queueHook) deliver(id string, sub packets.Subscription, pk packets.Packet) {
	if id == hookClientID {
		return
	}
	cl, ok := h.srv.Clients.Get(id)
	if !ok || (sub.NoLocal && pk.Origin == cl.ID) { // [MQTT-3.8.3-3]
		return
	}
	qos := pk.FixedHeader.Qos
	if qos > sub.Qos {
		qos = sub.Qos
	}
	size := msgSize(&pk)

	h.mu.Lock()
	defer h.mu.Unlock()
	closed := cl.Closed()
	if closed && qos == 0 {
		return // QoS 0 is not kept for a session that is not connected (as mosquitto, queue_qos0_messages false)
	}
	cq := h.queue(id)
	if reason, limit := h.full(cq, size); reason != "" {
		pk.FixedHeader.Qos = qos
		h.dropLocked(cq, &pk, reason, limit)
		return
	}
	// Copied only once it fits: a copy per recipient of a large message
	// is what the limits bound.
	out := pk.Copy(false)
	out.FixedHeader.Qos = qos
	if pk.Connect.WillProperties.WillDelayInterval > 0 {
		// A delayed will: mochi kept its issue time in Expiry, which has
		// passed when it is published; it is no message expiry.
		out.Expiry = 0
	}
	if !sub.FwdRetainedFlag && (cl.Properties.ProtocolVersion != 5 || !sub.RetainAsPublished) { // [MQTT-3.3.1-12] [MQTT-3.3.1-13]
		out.FixedHeader.Retain = false
	}
	if len(sub.Identifiers) > 0 { // [MQTT-3.3.4-3]
		out.Properties.SubscriptionIdentifier = nil
		for _, n := range sub.Identifiers {
			out.Properties.SubscriptionIdentifier = append(out.Properties.SubscriptionIdentifier, n)
		}
		sort.Ints(out.Properties.SubscriptionIdentifier)
	} else if sub.Identifier > 0 {
		out.Properties.SubscriptionIdentifier = []int{sub.Identifier}
	}
	out.Properties.TopicAlias, out.Properties.TopicAliasFlag = 0, false // no outbound aliases
	cq.q = append(cq.q, queued{out, size})
	cq.qBytes += size
	h.total += size
	if !closed {
		h.promoteLocked(cq, cl)
	}
}

// full says which limit a message of size bytes would pass for cq, if any.
func (h *queueHook) full(cq *clientQueue, size int64) (reason, limit string) {
	switch {
	case cq.maxQueued > 0 && len(cq.q) >= cq.maxQueued:
		return trace.DropQueueFull, strconv.Itoa(cq.maxQueued) + " messages queued (the client's " + MaxQueuedProperty + ")"
	case len(cq.q) >= int(h.lim.MaxQueued):
		return trace.DropQueueFull, strconv.Itoa(int(h.lim.MaxQueued)) + " messages queued (-broker-max-queued)"
	case cq.qBytes+cq.inBytes+cq.outBytes+size > h.lim.MaxQueuedBytes:
		return trace.DropQueueBytes, byteCount(h.lim.MaxQueuedBytes) + " per client (-broker-max-queued-bytes)"
	case h.total+size > h.lim.QueueBudget:
		return trace.DropBrokerBudget, byteCount(h.lim.QueueBudget) + " for all clients (-broker-queue-budget)"
	}
	return "", ""
}

// promoteLocked takes messages from cq's queue while cl's window allows —
// a QoS 1/2 message gets its packet id and its place in flight now, so the
// counts are the window's at once — and starts the send loop to write them.
func (h *queueHook) promoteLocked(cq *clientQueue, cl *mqtt.Client) {
	if cl == nil || cl.Closed() {
		return
	}
	now := time.Now().Unix()
	for len(cq.q) > 0 {
		m := cq.q[0]
		if m.pk.FixedHeader.Qos > 0 && len(cq.inflight) >= h.window(cl) {
			break
		}
		cq.q[0] = queued{}
		cq.q = cq.q[1:]
		cq.qBytes -= m.size
		if expired(&m.pk, now, h.lim.MessageExpiry) {
			h.total -= m.size
			h.dropLocked(cq, &m.pk, trace.DropExpired, "")
			continue
		}
		if m.pk.FixedHeader.Qos > 0 {
			pid, err := cl.NextPacketID() // [MQTT-2.2.1-4]
			if err != nil {
				h.total -= m.size
				h.dropLocked(cq, &m.pk, trace.DropQueueFull, "65535 packet identifiers in use")
				continue
			}
			m.pk.PacketID = uint16(pid)
			cl.State.Inflight.Set(m.pk) // [MQTT-4.3.2-3] [MQTT-4.3.3-3]
			atomic.AddInt64(&h.srv.Info.Inflight, 1)
			cq.inflight[m.pk.PacketID] = m.size
			cq.inBytes += m.size
		} else {
			cq.outBytes += m.size
		}
		cq.out = append(cq.out, m)
	}
	h.kickLocked(cq, cl)
}

// kickLocked starts cq's send loop for cl unless one runs for it.
func (h *queueHook) kickLocked(cq *clientQueue, cl *mqtt.Client) {
	if cq.sender == cl || len(cq.out) == 0 {
		return
	}
	if cq.sender != nil && !cq.sender.Closed() {
		return // the running loop sends; it stops once its connection closes
	}
	cq.sender = cl
	go h.send(cq, cl)
}

// clearOutLocked empties cq's messages taken for a connection that is
// gone: QoS 1/2 ones stay in flight (mochi sends them again when the
// session resumes), QoS 0 ones are dropped.
func (h *queueHook) clearOutLocked(cq *clientQueue, reason string) {
	out := cq.out
	cq.out = nil
	for i := range out {
		if out[i].pk.FixedHeader.Qos == 0 {
			cq.outBytes -= out[i].size
			h.total -= out[i].size
			h.dropLocked(cq, &out[i].pk, reason, "")
		}
	}
}

// send writes the messages taken for cl until there are none.
func (h *queueHook) send(cq *clientQueue, cl *mqtt.Client) {
	for {
		h.mu.Lock()
		if cq.sender != cl || cl.Closed() || len(cq.out) == 0 {
			if cq.sender == cl {
				cq.sender = nil
				if cur, ok := h.srv.Clients.Get(cq.id); ok && cur != cl && !cur.Closed() {
					h.promoteLocked(cq, cur) // taken over while this loop ran
				}
			}
			h.mu.Unlock()
			return
		}
		m := cq.out[0]
		cq.out[0] = queued{}
		cq.out = cq.out[1:]
		out := m.pk
		if out.FixedHeader.Qos == 0 {
			cq.outBytes -= m.size
			h.total -= m.size
		}
		h.mu.Unlock()

		err := cl.WritePacket(out)
		if err == nil {
			continue
		}
		h.mu.Lock()
		switch {
		case err == packets.ErrPacketTooLarge:
			if out.FixedHeader.Qos > 0 {
				h.settleLocked(cq, out.PacketID)
				if cl.State.Inflight.Delete(out.PacketID) {
					atomic.AddInt64(&h.srv.Info.Inflight, -1)
				}
			}
			h.dropLocked(cq, &out, trace.DropTooLarge, "the client's Maximum Packet Size")
			h.promoteLocked(cq, cl)
		case out.FixedHeader.Qos == 0:
			h.dropLocked(cq, &out, trace.DropConnClosed, "")
		}
		// A QoS 1/2 message stays in the session: sent again when the
		// client resumes it, reported when the session ends or expires.
		h.mu.Unlock()
	}
}

func expired(pk *packets.Packet, now, maximum int64) bool {
	return (pk.Expiry > 0 && pk.Expiry < now) || (maximum > 0 && pk.Created > 0 && now-pk.Created > maximum)
}

// settleLocked forgets in-flight message pid of cq; it reports whether it
// was the hook's.
func (h *queueHook) settleLocked(cq *clientQueue, pid uint16) bool {
	size, ok := cq.inflight[pid]
	if !ok {
		return false
	}
	delete(cq.inflight, pid)
	cq.inBytes -= size
	h.total -= size
	return true
}

// OnQosComplete: the client acknowledged a message; send the next.
func (h *queueHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if t := pk.FixedHeader.Type; t != packets.Puback && t != packets.Pubcomp {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cq := h.clients[cl.ID]
	if cq == nil || !h.settleLocked(cq, pk.PacketID) {
		return
	}
	h.promoteLocked(cq, cl)
}

// OnQosDropped: mochi discarded a message of the session (clean session
// ended, expiry, or a subscriber's PUBREC refusing it).
func (h *queueHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if pk.FixedHeader.Type != packets.Publish && pk.FixedHeader.Type != packets.Pubrec {
		return // the second, bare call of mochi's expiry, or an inbound flow's ack
	}
	if cl.IsTakenOver() {
		return // its messages moved to the new connection
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cq := h.clients[cl.ID]
	if cq == nil || !h.settleLocked(cq, pk.PacketID) {
		return
	}
	if pk.FixedHeader.Type == packets.Pubrec {
		h.promoteLocked(cq, cl) // the subscriber refused it with a reason code, on the wire
		return
	}
	reason := trace.DropSessionEnded
	if expired(&pk, time.Now().Unix(), h.lim.MessageExpiry) {
		reason = trace.DropExpired
	}
	h.dropLocked(cq, &pk, reason, "")
	if cl.Closed() {
		h.forget(cq)
	} else {
		h.promoteLocked(cq, cl)
	}
}

// OnPublishDropped: mochi's own write queue for a client was full (only
// $SYS messages and the broker's acks use it).
func (h *queueHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(h.queue(cl.ID), &pk, trace.DropQueueFull, strconv.Itoa(int(h.lim.MaxPending))+" packets waiting to be written")
	h.forget(h.clients[cl.ID])
}

// noSendQuota turns mochi's own outbound flow control off for cl: the
// hook keeps the client's window itself. Left on, mochi looks for held
// messages after every packet it reads, under a read lock it takes twice
// (Inflight.NextImmediate), which deadlocks with the hook's Inflight.Set.
func noSendQuota(cl *mqtt.Client) { cl.State.Inflight.ResetSendQuota(0) }

// OnConnect refuses a new session when the broker holds its maximum. It
// first ends the connection that holds the same client id, if any, and
// waits for mochi to clean it up (see endingWait).
func (h *queueHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	noSendQuota(cl)
	h.awaitEnded(cl)
	if _, ok := h.srv.Clients.Get(cl.ID); ok {
		return nil // resumes or takes over a session
	}
	if int64(h.srv.Clients.Len()) < h.lim.MaxClients {
		return nil
	}
	code := packets.ErrServerUnavailable // 3.1.1: 0x03 Server unavailable
	if cl.Properties.ProtocolVersion == 5 {
		code = packets.ErrQuotaExceeded // [3.2.2.2] 0x97 Quota exceeded
	}
	_ = h.srv.SendConnack(cl, code, false, nil)
	h.log.Warn("embedded broker: session refused: too many sessions", "client", cl.ID,
		"sessions", h.srv.Clients.Len(), "limit", h.lim.MaxClients)
	return code
}

// endingWait bounds how long a connection waits, before its session is
// set up, for the connection that held its client id to be cleaned up.
// mochi v2.7.9 cleans an ended connection up after OnDisconnect: unless
// its session was taken over, it unsubscribes the client id's filters and
// deregisters the client id. A client that connects again while that runs
// (a device whose TCP connection dropped, a page that reconnects at once)
// comes between: mochi takes the old connection over, and the cleanup,
// which had looked for a takeover before mochi marked it, then deregisters
// the new connection and removes the filters it subscribes. Its retained
// messages, and every publish to it, then go nowhere, unreported: 1 run in
// 200 of TestRetainedOnSubscribe, most runs of TestReconnectAtOnce.
//
// So the broker ends the old connection itself, first, as mochi's
// takeover would (DISCONNECT 0x8E Session taken over, then closed; its
// will published), and waits for its cleanup: a session that ends with its
// connection is then gone, and the new one starts clean; a kept session
// stays, and mochi hands it to the new connection as before.
const endingWait = 2 * time.Second

// awaitEnded ends the connection that holds cl's client id, if any and
// still open, and waits, up to endingWait, for mochi's cleanup of it (see
// endingWait).
func (h *queueHook) awaitEnded(cl *mqtt.Client) {
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok || old == cl || old.IsTakenOver() {
		return
	}
	if !old.Closed() {
		_ = h.srv.DisconnectClient(old, packets.ErrSessionTakenOver) // [MQTT-3.1.4-3]
	}
	if !sessionEnds(old) {
		return // nothing of it is removed: mochi takes it over
	}
	deadline := time.Now().Add(endingWait)
	for time.Now().Before(deadline) {
		if cur, ok := h.srv.Clients.Get(cl.ID); !ok || cur != old {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
	h.log.Warn("embedded broker: a connection's cleanup took longer than expected", "client", cl.ID, "waited", endingWait)
}

// sessionEnds reports whether cl's session ends with its connection, as
// mochi decides when it cleans up (Session Expiry Interval 0, or a 3.1.1
// clean session).
func sessionEnds(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

// OnSessionEstablish: a Clean Start discards what the old session held.
func (h *queueHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if !pk.Connect.Clean {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if cq := h.clients[cl.ID]; cq != nil {
		h.dropQueueLocked(cq, trace.DropSessionEnded)
	}
}

// OnSessionEstablished: send what waited for the client.
func (h *queueHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	noSendQuota(cl) // again: a resumed session's inflight store is a clone with mochi's quota
	maxQueued := 0
	for _, u := range cl.Properties.Props.User {
		if n, err := strconv.Atoi(u.Val); u.Key == MaxQueuedProperty && err == nil && n > 0 && n < int(h.lim.MaxQueued) {
			maxQueued = n
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cq := h.clients[cl.ID]
	if cq == nil && maxQueued == 0 {
		return
	}
	if cq == nil {
		cq = h.queue(cl.ID)
	}
	cq.maxQueued = maxQueued
	h.clearOutLocked(cq, trace.DropConnClosed) // taken for a connection taken over
	h.promoteLocked(cq, cl)
}

// OnDisconnect: a session that ends drops its queue (its in-flight
// messages come through OnQosDropped); one that is kept drops its QoS 0
// messages, which are not kept for an absent client.
func (h *queueHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prefix := fmt.Sprintf(replayKeyFmt, cl, 0)
	prefix = prefix[:len(prefix)-1]
	for k := range h.replays {
		if strings.HasPrefix(k, prefix) {
			delete(h.replays, k) // a SUBACK never written
		}
	}
	if cl.IsTakenOver() {
		return
	}
	if cur, ok := h.srv.Clients.Get(cl.ID); ok && cur != cl {
		// A newer connection holds the id (a kept session that
		// awaitEnded ended for it, which mochi hands over before or
		// after this runs): the session's queue is its own now.
		return
	}
	cq := h.clients[cl.ID]
	if cq == nil {
		return
	}
	cq.sender = nil
	if expire {
		h.dropQueueLocked(cq, trace.DropSessionEnded)
		h.forget(cq) // unless messages in flight: OnQosDropped reports them next
		return
	}
	h.clearOutLocked(cq, trace.DropConnClosed)
	keep := cq.q[:0]
	for _, m := range cq.q {
		if m.pk.FixedHeader.Qos == 0 {
			cq.qBytes -= m.size
			h.total -= m.size
			h.dropLocked(cq, &m.pk, trace.DropConnClosed, "")
			continue
		}
		keep = append(keep, m)
	}
	clear(cq.q[len(keep):])
	cq.q = keep
}

// OnClientExpired: mochi forgets a session that stayed away too long,
// with its messages, silently; say so.
func (h *queueHook) OnClientExpired(cl *mqtt.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cq := h.clients[cl.ID]
	if cq == nil {
		return
	}
	h.dropQueueLocked(cq, trace.DropSessionExpired)
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish && h.settleLocked(cq, pk.PacketID) {
			h.dropLocked(cq, &pk, trace.DropSessionExpired, "")
		}
	}
	cq.inflight, cq.inBytes, cq.sender = map[uint16]int64{}, 0, nil
	h.forget(cq)
}

func (h *queueHook) dropQueueLocked(cq *clientQueue, reason string) {
	h.clearOutLocked(cq, reason)
	q := cq.q
	cq.q, cq.qBytes = nil, 0
	for i := range q {
		h.total -= q[i].size
		h.dropLocked(cq, &q[i].pk, reason, "")
	}
}

// OnPublish keeps the retained store within its budget: a retained
// message that does not fit is refused with 0x97 Quota exceeded where
// the publisher's version has reason codes (v5, QoS 1/2), or delivered
// without being retained, and reported, where it has not.
func (h *queueHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain || cl.Net.Inline {
		return pk, nil
	}
	size := msgSize(&pk)
	if len(pk.Payload) == 0 {
		size = 0 // clears the topic's retained message
	}
	h.mu.Lock()
	old := h.retained[pk.TopicName]
	if h.retBytes-old+size <= h.lim.RetainedBytes {
		h.retBytes += size - old
		if size == 0 {
			delete(h.retained, pk.TopicName)
		} else {
			h.retained[pk.TopicName] = size
		}
		h.mu.Unlock()
		return pk, nil
	}
	limit := byteCount(h.lim.RetainedBytes) + " of retained messages (-broker-retained-bytes)"
	refuse := cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos > 0
	cq := h.queue(cl.ID)
	h.reportLocked(cq, &pk, trace.DropRetainedFull, limit, refuse)
	h.forget(cq)
	h.mu.Unlock()
	if refuse {
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.ErrQuotaExceeded.Code}
		if pk.FixedHeader.Qos == 2 {
			ack.FixedHeader.Type = packets.Pubrec // [MQTT-3.3.4-1]; mochi would answer a PUBACK
		}
		ack.Properties.ReasonString = "retained store full: " + limit
		if err := cl.WritePacket(ack); err != nil {
			return pk, err
		}
		return pk, packets.ErrRejectPacket
	}
	pk.FixedHeader.Retain = false // delivered to the subscribers, not kept
	return pk, nil
}

// OnRetainedExpired: a retained message expired.
func (h *queueHook) OnRetainedExpired(topic string) {
	h.mu.Lock()
	h.retBytes -= h.retained[topic]
	delete(h.retained, topic)
	h.mu.Unlock()
}

// OnSubscribe asks mochi not to send retained messages (the hook sends
// them through the client's queue once the SUBACK is written).
func (h *queueHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	var r replay
	for i, sub := range pk.Filters {
		_, existed := cl.State.Subscriptions.Get(sub.Filter)
		if sub.RetainHandling == 0 || (sub.RetainHandling == 1 && !existed) { // [MQTT-3.3.1-9] [MQTT-3.3.1-10]
			s := sub
			s.FwdRetainedFlag = true
			r.subs = append(r.subs, s)
		}
		pk.Filters[i].RetainHandling = 2
	}
	if len(r.subs) > 0 {
		h.mu.Lock()
		h.replays[fmt.Sprintf(replayKeyFmt, cl, pk.PacketID)] = r
		h.mu.Unlock()
	}
	return pk
}

// OnPacketSent sends a SUBSCRIBE's retained messages once its SUBACK is out.
func (h *queueHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Suback {
		return
	}
	key := fmt.Sprintf(replayKeyFmt, cl, pk.PacketID)
	h.mu.Lock()
	r, ok := h.replays[key]
	delete(h.replays, key)
	h.mu.Unlock()
	if !ok {
		return
	}
	for i, sub := range r.subs {
		if i < len(pk.ReasonCodes) && pk.ReasonCodes[i] >= packets.ErrUnspecifiedError.Code {
			continue
		}
		if mqtt.IsSharedFilter(sub.Filter) {
			continue // [MQTT-4.8.2] no retained messages on a shared subscription
		}
		for _, m := range h.srv.Topics.Messages(sub.Filter) {
			h.deliver(cl.ID, sub, m)
		}
	}
}

// dropLocked counts a message that will not be delivered and reports it
// to the client's watchers.
func (h *queueHook) dropLocked(cq *clientQueue, pk *packets.Packet, reason, limit string) {
	h.reportLocked(cq, pk, reason, limit, false)
}

// reportLocked is dropLocked; refused says the publisher was told (v5 0x97).
func (h *queueHook) reportLocked(cq *clientQueue, pk *packets.Packet, reason, limit string, refused bool) {
	h.drops[reason]++
	ws := h.watchers[cq.id]
	if len(ws) == 0 {
		h.log.Debug("embedded broker dropped a message", "client", cq.id, "reason", reason, "topic", pk.TopicName)
		return
	}
	d := &trace.Drop{Client: cq.id, Reason: reason, Topic: pk.TopicName, QoS: int(pk.FixedHeader.Qos),
		Size: len(pk.Payload), Queued: len(cq.q), Inflight: len(cq.inflight), Bytes: cq.qBytes + cq.inBytes + cq.outBytes, Limit: limit, Refused: refused}
	e := trace.Entry{From: "broker", To: "broker", Kind: trace.KindBrokerDrop, Observed: trace.ObservedBroker,
		Summary: dropSummary(d), Drop: d}
	for w := range ws {
		w.emit(e)
	}
}

// dropSummary is a broker.drop entry's line, the reason first (it is what
// a narrow arrow shows), e.g. "queue full: PUBLISH q1 bench/x (12 B) for
// lifeline-1 dropped (1000 queued, 20 in flight, 31 KiB held; limit 1000
// messages queued (-broker-max-queued))".
func dropSummary(d *trace.Drop) string {
	what, dir := "dropped", "for"
	switch {
	case d.Refused:
		what, dir = "refused with 0x97 Quota exceeded", "from"
	case d.Reason == trace.DropRetainedFull:
		what, dir = "delivered, not retained", "from"
	}
	s := fmt.Sprintf("%s: PUBLISH q%d %s (%s) %s %s %s (%d queued, %d in flight, %s held",
		d.Reason, d.QoS, d.Topic, byteCount(int64(d.Size)), dir, d.Client, what, d.Queued, d.Inflight, byteCount(d.Bytes))
	if d.Limit != "" {
		s += "; limit " + d.Limit
	}
	return s + ")"
}

func byteCount(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// watch registers emit for the broker.drop entries of client id.
func (h *queueHook) watch(id string, emit func(trace.Entry)) (stop func()) {
	id = strings.Clone(id) // a map key: it must not alias a buffer the caller reuses
	w := &watcher{emit: emit}
	h.mu.Lock()
	if h.watchers[id] == nil {
		h.watchers[id] = map[*watcher]struct{}{}
	}
	h.watchers[id][w] = struct{}{}
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.watchers[id], w)
		if len(h.watchers[id]) == 0 {
			delete(h.watchers, id)
		}
		h.mu.Unlock()
	}
}

// stats returns the drops by reason and the bytes held.
func (h *queueHook) stats() (drops map[string]int64, queued, retained int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	drops = make(map[string]int64, len(h.drops))
	for k, v := range h.drops {
		drops[k] = v
	}
	return drops, h.total, h.retBytes
}
