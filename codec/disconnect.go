package codec

// Disconnect is a DISCONNECT packet [3.14]. In MQTT 3.1.1 it has no
// fields; in MQTT 5.0 the Reason Code and Properties are omitted on the
// wire when the code is 0 (Normal disconnection) and there are no
// properties. Any other code is written with a Property Length, 0 when
// there are no properties; both forms are decoded.
type Disconnect struct {
	ReasonCode ReasonCode // MQTT 5.0 only
	Properties Properties // MQTT 5.0 only
}

// Auth is an AUTH packet [3.15], MQTT 5.0 only, with the same shape as
// DISCONNECT.
type Auth struct {
	ReasonCode ReasonCode
	Properties Properties
}

func (*Disconnect) Type() PacketType { return TypeDisconnect }
func (*Auth) Type() PacketType       { return TypeAuth }

// Decode decodes the whole packet b into p without allocating.
func (p *Disconnect) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

// Decode decodes the whole packet b into p without allocating.
func (p *Auth) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Disconnect) decode(b []byte, v Version, rec *recorder) error {
	return decodeReasonOnly(b, v, rec, TypeDisconnect, &p.ReasonCode, &p.Properties)
}

func (p *Auth) decode(b []byte, v Version, rec *recorder) error {
	return decodeReasonOnly(b, v, rec, TypeAuth, &p.ReasonCode, &p.Properties)
}

// Append appends the encoding of p as version v to dst.
func (p *Disconnect) Append(dst []byte, v Version) ([]byte, error) {
	return appendReasonOnly(dst, v, TypeDisconnect, p.ReasonCode, &p.Properties)
}

// Append appends the encoding of p as version v to dst (v must be V5).
func (p *Auth) Append(dst []byte, v Version) ([]byte, error) {
	return appendReasonOnly(dst, v, TypeAuth, p.ReasonCode, &p.Properties)
}

func decodeReasonOnly(b []byte, v Version, rec *recorder, t PacketType, rc *ReasonCode, props *Properties) error {
	c := cursor{b: b, t: t, v: v, rec: rec}
	*rc = 0
	if !props.empty() {
		props.reset()
	}
	if _, err := c.header(t); err != nil {
		return err
	}
	return c.ackTail(rc, props)
}

func appendReasonOnly(dst []byte, v Version, t PacketType, rc ReasonCode, props *Properties) ([]byte, error) {
	if v != V5 && (v != V311 || t == TypeAuth) {
		return dst, newErr(t, "", 0, "", ErrUnsupportedVer)
	}
	// A reason code alone (Remaining Length 1) is legal [3.14.2.2.1], and
	// decoded, but some brokers (mochi 2.7) read the reason code only when
	// a Property Length follows it, and drop a Disconnect with Will Message
	// sent so; paho.golang and mqtt.js always write the Property Length,
	// and so do we unless the packet was decoded without it.
	return appendTail(append(dst, byte(t)<<4), v, t, rc, props, tailLen)
}
