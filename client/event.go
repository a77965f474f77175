package client

import (
	"time"

	"github.com/lifeline-mqtt/lifeline/codec"
)

// State is where the client is in its connection lifecycle.
type State uint8

// States. The usual path is Disconnected → Dialing → Connecting → Connected
// → Disconnected; a lost connection goes to Waiting (when Config.Reconnect
// is set) and back to Dialing when the backoff delay has passed.
const (
	StateDisconnected State = iota // no connection and none wanted
	StateDialing                   // waiting for the driver to open a transport (EventDial)
	StateConnecting                // CONNECT sent, waiting for CONNACK
	StateConnected                 // CONNACK accepted
	StateWaiting                   // connection lost or refused; reconnecting after a backoff delay
)

var stateNames = [...]string{"disconnected", "dialing", "connecting", "connected", "waiting"}

// String returns the state's lower-case name, e.g. "connected".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "state(" + itoa(int(s)) + ")"
}

// EventType says what an Event reports.
type EventType uint8

// Event types. EventDial, EventSend and EventClose are instructions for the
// driver as well as records; the others are records only.
const (
	// EventDial: the driver must open a transport to the broker, then call
	// Dialed or DialFailed.
	EventDial EventType = iota + 1
	// EventSend: a packet the driver must write, in order: Bytes is the
	// whole packet, Packet its decoded form.
	EventSend
	// EventClose: the driver must close the transport after writing every
	// EventSend before it. It does not call Closed for this transport.
	EventClose
	// EventReceive: a whole packet arrived: Bytes and Packet (its strings
	// and slices are views into Bytes, which the client never modifies).
	EventReceive
	// EventState: State changed from Prev. Delay is set when entering
	// StateWaiting: the backoff before the next dial.
	EventState
	// EventError: Err says what went wrong and the spec clause; Err.Fatal
	// when it ended the connection.
	EventError
	// EventMessage: an application message was delivered (once per message;
	// a duplicate QoS 2 PUBLISH is not delivered again).
	EventMessage
	// EventPublished: our PUBLISH with packet id ID completed (PUBACK, or
	// PUBCOMP, or a PUBREC/PUBACK with a failure Reason, or Err when it
	// could not be sent). QoS 0 messages have no completion event.
	EventPublished
	// EventSubscribed: SUBACK for ID; Reasons holds one code per filter.
	EventSubscribed
	// EventUnsubscribed: UNSUBACK for ID; Reasons holds one code per filter
	// (MQTT 5.0; empty in 3.1.1).
	EventUnsubscribed
	// EventPong: PINGRESP arrived, RTT after our PINGREQ.
	EventPong
)

var eventNames = [...]string{"", "dial", "send", "close", "receive", "state", "error", "message",
	"published", "subscribed", "unsubscribed", "pong"}

// String returns the event type's lower-case name, e.g. "send".
func (t EventType) String() string {
	if int(t) < len(eventNames) && t > 0 {
		return eventNames[t]
	}
	return "event(" + itoa(int(t)) + ")"
}

// Event is one thing the client did or saw. Fields beyond Type and Time are
// set as the Type's documentation says.
type Event struct {
	Type    EventType
	Time    time.Time
	Bytes   []byte       // EventSend, EventReceive: the raw packet
	Packet  codec.Packet // EventSend, EventReceive: the decoded packet (nil for a received PUBLISH and its PUBACK with Config.BytesOnly)
	State   State        // EventState: the new state
	Prev    State        // EventState: the previous state
	Delay   time.Duration
	Err     *Error           // EventError; EventPublished when the message failed
	ID      uint16           // EventPublished, EventSubscribed, EventUnsubscribed
	Reason  codec.ReasonCode // EventPublished: the ack's reason code
	Reasons []codec.ReasonCode
	Message *Message      // EventMessage
	RTT     time.Duration // EventPong
}

// Message is an application message, received (EventMessage) or to publish.
type Message struct {
	Topic      string
	Payload    []byte
	QoS        codec.QoS
	Retain     bool
	Dup        bool             // received with DUP set
	PacketID   uint16           // received QoS 1/2 packet id
	Properties codec.Properties // MQTT 5.0 PUBLISH properties (received: Topic Alias resolved into Topic)
	// TopicAlias asks the client to send this message with a Topic Alias
	// when the broker allows them (see Config.TopicAliases).
	TopicAlias bool
}

// Error is a failure the client reports: a protocol violation by the broker,
// a refused CONNECT, a broker DISCONNECT, a lost connection, a keepalive
// timeout, or a packet that could not be sent.
type Error struct {
	Text   string           // what happened, in words
	Clause string           // spec clause, e.g. "MQTT-3.2.0-1", or section, e.g. "4.13"
	Reason codec.ReasonCode // the reason code sent or received (MQTT 5.0), 0 if none
	Fatal  bool             // the connection was closed because of it
	Err    error            // the underlying error (e.g. *codec.DecodeError), if any
}

// Error returns the text, the reason and the clause.
func (e *Error) Error() string {
	s := e.Text
	if e.Reason != 0 {
		s += " (reason 0x" + hex2(byte(e.Reason)) + " " + e.Reason.String() + ")"
	}
	if e.Clause != "" {
		s += " [" + e.Clause + "]"
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

const hexDigits = "0123456789abcdef"

func hex2(b byte) string { return string([]byte{hexDigits[b>>4], hexDigits[b&15]}) }
