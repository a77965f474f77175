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
)

// BrokerLimits bound what the embedded broker will hold. The zero value of a
// field means its default in DefaultBrokerLimits.
type BrokerLimits struct {
	MaxClients      int64  // connected clients at once
	MaxPacketSize   uint32 // bytes, the whole packet
	MaxPending      int32  // queued outbound packets per client
	MaxInflight     uint16 // QoS 1/2 messages kept per client
	ReceiveMaximum  uint16 // QoS 1/2 messages a client may send unacknowledged
	SessionExpiry   uint32 // seconds a disconnected session is kept
	MessageExpiry   int64  // seconds a retained or queued message is kept
	TopicAliasMax   uint16
	ReadBufferSize  int
	WriteBufferSize int
}

// DefaultBrokerLimits suit a demo on one machine.
var DefaultBrokerLimits = BrokerLimits{
	MaxClients:      1000,
	MaxPacketSize:   1 << 20,
	MaxPending:      1024,
	MaxInflight:     256,
	ReceiveMaximum:  256,
	SessionExpiry:   3600,
	MessageExpiry:   3600,
	TopicAliasMax:   64,
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
}

// Broker is a running embedded MQTT broker.
type Broker struct {
	srv *mqtt.Server
	ln  *listener
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
	caps.MaximumClients = lim.MaxClients
	caps.MaximumPacketSize = lim.MaxPacketSize
	caps.MaximumClientWritesPending = lim.MaxPending
	caps.MaximumInflight = lim.MaxInflight
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
	l := &listener{ln: ln}
	if err := srv.AddListener(l); err != nil {
		ln.Close()
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		ln.Close()
		return nil, err
	}
	return &Broker{srv: srv, ln: l}, nil
}

func (l BrokerLimits) withDefaults() BrokerLimits {
	d := DefaultBrokerLimits
	pick := func(v, def int64) int64 {
		if v > 0 {
			return v
		}
		return def
	}
	return BrokerLimits{
		MaxClients:      pick(l.MaxClients, d.MaxClients),
		MaxPacketSize:   uint32(pick(int64(l.MaxPacketSize), int64(d.MaxPacketSize))),
		MaxPending:      int32(pick(int64(l.MaxPending), int64(d.MaxPending))),
		MaxInflight:     uint16(pick(int64(l.MaxInflight), int64(d.MaxInflight))),
		ReceiveMaximum:  uint16(pick(int64(l.ReceiveMaximum), int64(d.ReceiveMaximum))),
		SessionExpiry:   uint32(pick(int64(l.SessionExpiry), int64(d.SessionExpiry))),
		MessageExpiry:   pick(l.MessageExpiry, d.MessageExpiry),
		TopicAliasMax:   uint16(pick(int64(l.TopicAliasMax), int64(d.TopicAliasMax))),
		ReadBufferSize:  int(pick(int64(l.ReadBufferSize), int64(d.ReadBufferSize))),
		WriteBufferSize: int(pick(int64(l.WriteBufferSize), int64(d.WriteBufferSize))),
	}
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() *net.TCPAddr { return b.ln.ln.Addr().(*net.TCPAddr) }

// Clients returns how many MQTT clients are connected now.
func (b *Broker) Clients() int64 { return atomic.LoadInt64(&b.srv.Info.ClientsConnected) }

// Close disconnects every client and stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }

// listener adapts a net.Listener we opened ourselves (so a taken port is
// reported before anything starts, and port 0 can be read back) to mochi.
type listener struct {
	ln   net.Listener
	wg   sync.WaitGroup
	once sync.Once
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
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = establish(l.ID(), c)
		}()
	}
}

func (l *listener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
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
