package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// BrokerLimits bound what the embedded broker will hold. The zero value of a
// field means its default in DefaultBrokerLimits.
type BrokerLimits struct {
	MaxClients      int64  // sessions at once, connected or kept for a client that left
	MaxPacketSize   uint32 // bytes, the whole packet, each way
	MaxInflight     uint16 // QoS 1/2 messages unacknowledged per client, each way (also the Receive Maximum the broker announces)
	MaxQueued       int32  // messages waiting per client beyond those in flight
	MaxQueuedBytes  int64  // bytes (topic + payload) per client, queued and in flight
	QueueBudget     int64  // bytes queued and in flight for all clients together
	RetainedBytes   int64  // bytes (topic + payload) of all retained messages
	SessionExpiry   uint32 // seconds a disconnected session is kept at most
	MessageExpiry   int64  // seconds a retained or queued message is kept at most
	MaxPending      int32  // packets waiting to be written per client in mochi's own queue ($SYS messages)
	ReceiveMaximum  uint16 // QoS 1/2 messages a client may send unacknowledged (default MaxInflight)
	TopicAliasMax   uint16
	ReadBufferSize  int
	WriteBufferSize int
}

// DefaultBrokerLimits are a real broker's defaults where it has them
// (mosquitto: 20 in flight and 1,000 queued per client), and byte bounds
// that keep the broker's part of `lifeline serve` within Budget (428 MiB)
// whatever its clients do.
var DefaultBrokerLimits = BrokerLimits{
	MaxClients:      100,
	MaxPacketSize:   1 << 20,
	MaxInflight:     20,
	MaxQueued:       1000,
	MaxQueuedBytes:  16 << 20,
	QueueBudget:     64 << 20,
	RetainedBytes:   64 << 20,
	SessionExpiry:   3600,
	MessageExpiry:   3600,
	MaxPending:      256,
	TopicAliasMax:   64,
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
}

// Budget is the most memory the broker's messages can take with limits
// l: every queue and the retained store full, and every client in the
// middle of a packet of the largest size each way (mochi allocates a
// packet whole once its header says how long it is, and copies it before
// decoding; a packet being written is encoded whole). With the defaults:
// 64 + 64 + 3 × 100 × 1 MiB = 428 MiB.
func (l BrokerLimits) Budget() int64 {
	l = l.withDefaults()
	return l.QueueBudget + l.RetainedBytes + 3*l.MaxClients*int64(l.MaxPacketSize)
}

// Broker is a running embedded MQTT broker.
type Broker struct {
	srv   *mqtt.Server
	ln    *listener
	queue *queueHook
}

// ErrAddrInUse is returned (wrapped) by StartBroker and StartDNS when the
// address is taken by another program.
var ErrAddrInUse = errors.New("address already in use")

// StartBroker listens on addr (host:port; port 0 picks a free one) and serves
// MQTT there until Close. log receives the broker's warnings and errors.
func StartBroker(addr string, lim BrokerLimits, log *slog.Logger) (*Broker, error) {
	lim = lim.withDefaults()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s: %w", addr, ErrAddrInUse)
		}
		return nil, err
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// The queue hook bounds sessions (connected or kept) at MaxClients and
	// says so in the CONNACK (0x97); mochi's own cap on connections, which
	// would also refuse a client resuming its session, only backs it up
	// (a session taken over has two connections for a moment).
	caps.MaximumClients = 2 * lim.MaxClients
	caps.MaximumPacketSize = lim.MaxPacketSize
	caps.MaximumClientWritesPending = lim.MaxPending
	// mochi's "inflight" store holds what the queue hook has sent (at most
	// the window) and the inbound QoS 2 flows (at most ReceiveMaximum); its
	// own limit, which drops without a hook, must never be reached.
	caps.MaximumInflight = ^uint16(0)
	caps.ReceiveMaximum = lim.ReceiveMaximum
	caps.MaximumSessionExpiryInterval = lim.SessionExpiry
	caps.MaximumMessageExpiryInterval = lim.MessageExpiry
	caps.TopicAliasMaximum = lim.TopicAliasMax
	// mochi copies a PUBLISH's properties into its PUBACK/PUBREC/PUBREL/
	// PUBCOMP and, with properties to write, also writes the ack's reason
	// code, which for a PUBACK it sets to "Granted QoS 1" (0x01): a reason
	// code a PUBACK may not carry [3.4.2.1], so a strict client (ours)
	// disconnects with Malformed Packet. Without the inherited properties
	// the ack keeps its short form, which means Success.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetReadBufferSize:  lim.ReadBufferSize,
		ClientNetWriteBufferSize: lim.WriteBufferSize,
		SysTopicResendInterval:   10,
		Logger:                   slog.New(warnOnly{log.Handler()}).With("component", "broker"),
	})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		ln.Close()
		return nil, err
	}
	q := newQueueHook(lim, log)
	q.srv = srv
	if err := srv.AddHook(q, nil); err != nil {
		ln.Close()
		return nil, err
	}
	l := &listener{ln: ln}
	if err := srv.AddListener(l); err != nil {
		ln.Close()
		return nil, err
	}
	q.install(srv)
	if err := srv.Serve(); err != nil {
		ln.Close()
		return nil, err
	}
	return &Broker{srv: srv, ln: l, queue: q}, nil
}

func (l BrokerLimits) withDefaults() BrokerLimits {
	d := DefaultBrokerLimits
	pick := func(v, def int64) int64 {
		if v > 0 {
			return v
		}
		return def
	}
	out := BrokerLimits{
		MaxClients:      pick(l.MaxClients, d.MaxClients),
		MaxPacketSize:   uint32(pick(int64(l.MaxPacketSize), int64(d.MaxPacketSize))),
		MaxInflight:     uint16(pick(int64(l.MaxInflight), int64(d.MaxInflight))),
		MaxQueued:       int32(pick(int64(l.MaxQueued), int64(d.MaxQueued))),
		MaxQueuedBytes:  pick(l.MaxQueuedBytes, d.MaxQueuedBytes),
		QueueBudget:     pick(l.QueueBudget, d.QueueBudget),
		RetainedBytes:   pick(l.RetainedBytes, d.RetainedBytes),
		SessionExpiry:   uint32(pick(int64(l.SessionExpiry), int64(d.SessionExpiry))),
		MessageExpiry:   pick(l.MessageExpiry, d.MessageExpiry),
		MaxPending:      int32(pick(int64(l.MaxPending), int64(d.MaxPending))),
		ReceiveMaximum:  uint16(pick(int64(l.ReceiveMaximum), int64(d.ReceiveMaximum))),
		TopicAliasMax:   uint16(pick(int64(l.TopicAliasMax), int64(d.TopicAliasMax))),
		ReadBufferSize:  int(pick(int64(l.ReadBufferSize), int64(d.ReadBufferSize))),
		WriteBufferSize: int(pick(int64(l.WriteBufferSize), int64(d.WriteBufferSize))),
	}
	if out.ReceiveMaximum == 0 {
		out.ReceiveMaximum = out.MaxInflight
	}
	return out
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() *net.TCPAddr { return b.ln.ln.Addr().(*net.TCPAddr) }

// Clients returns how many MQTT clients are connected now.
func (b *Broker) Clients() int64 { return atomic.LoadInt64(&b.srv.Info.ClientsConnected) }

// Watch sends emit the broker.drop entries (trace.KindBrokerDrop) about
// client id's messages until stop is called: messages for it that the
// broker dropped, and retained messages from it that it did not keep. emit
// is called with the broker's queue lock held: it must not block or call
// the broker. Entries have no Seq, T, Leg or Conn; the caller sets them.
func (b *Broker) Watch(clientID string, emit func(trace.Entry)) (stop func()) {
	return b.queue.watch(clientID, emit)
}

// BrokerStats are the embedded broker's counts for /healthz.
type BrokerStats struct {
	Clients       int64            `json:"clients"`       // MQTT clients connected
	Sessions      int              `json:"sessions"`      // sessions held, connected or not
	QueuedBytes   int64            `json:"queuedBytes"`   // bytes queued and in flight for all clients
	RetainedBytes int64            `json:"retainedBytes"` // bytes of retained messages
	Drops         map[string]int64 `json:"drops"`         // messages dropped (or not retained), by reason (trace.Drop*)
}

// Stats returns the broker's counts now.
func (b *Broker) Stats() BrokerStats {
	drops, queued, retained := b.queue.stats()
	n := b.srv.Clients.Len()
	if _, ok := b.srv.Clients.Get(hookClientID); ok {
		n--
	}
	return BrokerStats{Clients: b.Clients(), Sessions: n, QueuedBytes: queued, RetainedBytes: retained, Drops: drops}
}

// Close disconnects every client and stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

// listener adapts a net.Listener we opened ourselves (so a taken port is
// reported before anything starts, and port 0 can be read back) to mochi.
type listener struct {
	ln   net.Listener
	wg   sync.WaitGroup
	once sync.Once
	// mu orders each connection's wg.Add before Close's wg.Wait: a
	// connection accepted while Close runs is closed, not counted, since
	// an Add from zero racing a Wait is a misuse of the WaitGroup.
	mu     sync.Mutex
	closed bool
}

func (l *listener) Init(*slog.Logger) error { return nil }
func (l *listener) ID() string              { return "lifeline-tcp" }
func (l *listener) Address() string         { return l.ln.Addr().String() }
func (l *listener) Protocol() string        { return "tcp" }

func (l *listener) Serve(establish listeners.EstablishFn) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			_ = establish(l.ID(), c)
		}()
	}
}

func (l *listener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		closeClients(l.ID())
		l.ln.Close()
	})
	l.wg.Wait()
}

// warnOnly passes on the broker's warnings and errors, not its chatter.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}
func (h warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(a)} }
func (h warnOnly) WithGroup(n string) slog.Handler      { return warnOnly{h.Handler.WithGroup(n)} }
