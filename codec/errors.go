package codec

import (
	"errors"
	"strconv"
)

// Sentinel errors. Every error returned by a decoder or validator satisfies
// errors.Is with exactly one of them, so a caller can pick the MQTT reason
// code to answer with (see ReasonForError).
var (
	// ErrMalformed: the bytes do not form a well-formed packet (reason 0x81).
	ErrMalformed = errors.New("malformed packet")
	// ErrProtocol: a well-formed packet breaks a protocol rule (reason 0x82).
	ErrProtocol = errors.New("protocol error")
	// ErrPacketTooLarge: the packet exceeds the configured maximum packet
	// size (reason 0x95). It is reported from the fixed header alone, before
	// any byte of the body is read or buffered.
	ErrPacketTooLarge = errors.New("packet too large")
)

// kindError is a finer-grained sentinel that unwraps to one of the three
// sentinels above, so errors.Is(err, ErrInvalidUTF8) and
// errors.Is(err, ErrMalformed) both hold.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Finer-grained errors, each wrapping ErrMalformed or ErrProtocol.
var (
	ErrVarint           error = &kindError{"invalid variable byte integer", ErrMalformed}
	ErrShort            error = &kindError{"packet shorter than its fields", ErrMalformed}
	ErrTrailing         error = &kindError{"trailing bytes after the packet's fields", ErrMalformed}
	ErrInvalidUTF8      error = &kindError{"invalid UTF-8 string", ErrMalformed}
	ErrReservedFlags    error = &kindError{"reserved flag bits set", ErrMalformed}
	ErrInvalidQoS       error = &kindError{"invalid QoS", ErrMalformed}
	ErrInvalidType      error = &kindError{"reserved packet type", ErrMalformed}
	ErrBadProperty      error = &kindError{"invalid property", ErrMalformed}
	ErrDuplicateProp    error = &kindError{"duplicate property", ErrProtocol}
	ErrZeroPacketID     error = &kindError{"packet identifier 0", ErrMalformed}
	ErrTopicName        error = &kindError{"invalid topic name", ErrMalformed}
	ErrTopicFilter      error = &kindError{"invalid topic filter", ErrMalformed}
	ErrReasonCode       error = &kindError{"invalid reason code", ErrMalformed}
	ErrReasonCount      error = &kindError{"wrong number of reason codes", ErrMalformed}
	ErrProtocolName     error = &kindError{"unsupported protocol name or level", ErrProtocol}
	ErrInvalidValue     error = &kindError{"invalid field value", ErrMalformed}
	ErrEmptyPayload     error = &kindError{"no topic filters", ErrProtocol}
	ErrUnsupportedVer   error = &kindError{"unsupported protocol version", ErrProtocol}
	ErrFieldTooLong     error = &kindError{"field too long to encode", ErrMalformed}
	ErrPacketIDRequired error = &kindError{"packet identifier required", ErrProtocol}
)

// DecodeError describes where and why a packet failed to decode, encode or
// validate.
type DecodeError struct {
	Type   PacketType // packet being decoded, 0 if not yet known
	Field  string     // Wireshark field name or a short description, e.g. "mqtt.topic"
	Offset int        // byte offset of the offending field within the packet
	Clause string     // normative statement, e.g. "MQTT-3.3.2-2", or a section, e.g. "2.2.3"
	Err    error      // a sentinel above; errors.Is works through Unwrap
}

// Error returns e.g. "PUBLISH mqtt.topic at offset 4: invalid topic name [MQTT-3.3.2-2]".
func (e *DecodeError) Error() string {
	s := ""
	if e.Type != 0 {
		s = e.Type.String() + " "
	}
	if e.Field != "" {
		s += e.Field + " "
	}
	s += "at offset " + strconv.Itoa(e.Offset) + ": " + e.Err.Error()
	if e.Clause != "" {
		s += " [" + e.Clause + "]"
	}
	return s
}

// Unwrap returns the underlying sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

func newErr(t PacketType, field string, off int, clause string, err error) *DecodeError {
	return &DecodeError{Type: t, Field: field, Offset: off, Clause: clause, Err: err}
}

// ReasonForError maps an error from this package to the MQTT 5 reason code a
// receiver sends in response: 0x95 Packet too large, 0x84 Unsupported Protocol Version, 0x82 Protocol Error,
// 0x81 Malformed Packet; 0x80 Unspecified error for other non-nil errors and
// 0x00 for nil.
func ReasonForError(err error) ReasonCode {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrPacketTooLarge):
		return 0x95
	case errors.Is(err, ErrUnsupportedVer):
		return 0x84
	case errors.Is(err, ErrProtocol):
		return 0x82
	case errors.Is(err, ErrMalformed):
		return 0x81
	}
	return 0x80
}
