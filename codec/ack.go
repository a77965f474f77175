package codec

// Puback, Pubrec, Pubrel and Pubcomp share a shape [3.4-3.7]: a Packet
// Identifier, then in MQTT 5.0 an optional Reason Code and Properties (both
// omitted on the wire when the code is Success and there are no
// properties).

// Puback is a PUBACK packet [3.4], the answer to a QoS 1 PUBLISH.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode // MQTT 5.0 only
	Properties Properties // MQTT 5.0 only
}

// Pubrec is a PUBREC packet [3.5], the first answer to a QoS 2 PUBLISH.
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubrel is a PUBREL packet [3.6], the answer to a PUBREC.
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

// Pubcomp is a PUBCOMP packet [3.7], the answer to a PUBREL.
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties Properties
}

func (*Puback) Type() PacketType  { return TypePuback }
func (*Pubrec) Type() PacketType  { return TypePubrec }
func (*Pubrel) Type() PacketType  { return TypePubrel }
func (*Pubcomp) Type() PacketType { return TypePubcomp }

// Decode decodes the whole packet b into p without allocating.
func (p *Puback) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

// Decode decodes the whole packet b into p without allocating.
func (p *Pubrec) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

// Decode decodes the whole packet b into p without allocating.
func (p *Pubrel) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

// Decode decodes the whole packet b into p without allocating.
func (p *Pubcomp) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Puback) decode(b []byte, v Version, rec *recorder) error {
	return decodeAck(b, v, rec, TypePuback, &p.PacketID, &p.ReasonCode, &p.Properties)
}
func (p *Pubrec) decode(b []byte, v Version, rec *recorder) error {
	return decodeAck(b, v, rec, TypePubrec, &p.PacketID, &p.ReasonCode, &p.Properties)
}
func (p *Pubrel) decode(b []byte, v Version, rec *recorder) error {
	return decodeAck(b, v, rec, TypePubrel, &p.PacketID, &p.ReasonCode, &p.Properties)
}
func (p *Pubcomp) decode(b []byte, v Version, rec *recorder) error {
	return decodeAck(b, v, rec, TypePubcomp, &p.PacketID, &p.ReasonCode, &p.Properties)
}

// Append appends the encoding of p as version v to dst.
func (p *Puback) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, TypePuback, p.PacketID, p.ReasonCode, &p.Properties)
}

// Append appends the encoding of p as version v to dst.
func (p *Pubrec) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, TypePubrec, p.PacketID, p.ReasonCode, &p.Properties)
}

// Append appends the encoding of p as version v to dst.
func (p *Pubrel) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, TypePubrel, p.PacketID, p.ReasonCode, &p.Properties)
}

// Append appends the encoding of p as version v to dst.
func (p *Pubcomp) Append(dst []byte, v Version) ([]byte, error) {
	return appendAck(dst, v, TypePubcomp, p.PacketID, p.ReasonCode, &p.Properties)
}

// reasonFields are Wireshark's reason code fields per packet type.
var reasonFields = [16]string{
	TypeConnack:    "mqtt.connack.reason_code",
	TypePuback:     "mqtt.puback.reason_code",
	TypePubrec:     "mqtt.pubrec.reason_code",
	TypePubrel:     "mqtt.pubrel.reason_code",
	TypePubcomp:    "mqtt.pubcomp.reason_code",
	TypeSuback:     "mqtt.suback.reason_code",
	TypeUnsuback:   "mqtt.unsuback.reason_code",
	TypeDisconnect: "mqtt.disconnect.reason_code",
	TypeAuth:       "mqtt.auth.reason_code",
}

// reasonCode reads an MQTT 5.0 reason code, which must be one defined for
// the packet type [2.4].
func (c *cursor) reasonCode() (ReasonCode, error) {
	at := c.off
	if err := c.need(1, reasonFields[c.t]); err != nil {
		return 0, err
	}
	r := ReasonCode(c.b[c.off])
	if c.rec != nil {
		c.rec.add(Field{Name: reasonFields[c.t], Value: itoa(int(r)), Label: "Reason Code: " + r.Name(c.t, c.v) + " (" + itoa(int(r)) + ")", Offset: at, Length: 1})
	}
	c.off++
	if !r.ValidIn(c.t) {
		return r, c.failAt(at, reasonFields[c.t], "2.4", ErrReasonCode)
	}
	return r, nil
}

func decodeAck(b []byte, v Version, rec *recorder, t PacketType, id *uint16, rc *ReasonCode, props *Properties) error {
	c := cursor{b: b, t: t, v: v, rec: rec}
	*id, *rc = 0, 0
	if !props.empty() {
		props.reset()
	}
	if _, err := c.header(t); err != nil {
		return err
	}
	var err error
	if *id, err = c.packetID(); err != nil {
		return err
	}
	return c.ackTail(rc, props)
}

// ackTail reads the optional Reason Code and Properties that end an MQTT
// 5.0 ack, DISCONNECT or AUTH, and notes how much of them was written.
func (c *cursor) ackTail(rc *ReasonCode, props *Properties) error {
	if c.v == V5 {
		tail := tailNone
		if c.off < c.end {
			var err error
			if *rc, err = c.reasonCode(); err != nil {
				return err
			}
			tail = tailCode
			if c.off < c.end {
				if err := c.readProps(props, c.t); err != nil {
					return err
				}
				tail = tailLen
			}
		}
		props.tail = tail
	}
	return c.done()
}

func appendAck(dst []byte, v Version, t PacketType, id uint16, rc ReasonCode, props *Properties) ([]byte, error) {
	if v != V311 && v != V5 {
		return dst, newErr(t, "", 0, "", ErrUnsupportedVer)
	}
	if id == 0 {
		return dst, newErr(t, "mqtt.msgid", 0, clause(v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"), ErrZeroPacketID)
	}
	h := byte(t)<<4 | byte(fixedFlags[t])
	return appendTail(append(dst, h), v, t, rc, props, tailCode, byte(id>>8), byte(id))
}

// appendTail appends the rest of an ack, DISCONNECT or AUTH after its
// first byte: the Remaining Length, the fields before the tail (an ack's
// packet id), then the Reason Code and Properties, omitted when they may
// be [3.4.2.1] [3.14.2.1]. A packet decoded with more of them written
// gets as much again (Properties.tail); one built by hand with a reason
// code and no properties gets the form brief (an ack's Reason Code alone,
// tailCode) or long (DISCONNECT's with a Property Length 0, tailLen).
func appendTail(dst []byte, v Version, t PacketType, rc ReasonCode, props *Properties, brief uint8, head ...byte) ([]byte, error) {
	n := len(head)
	if v == V311 && (rc != 0 || !props.empty()) {
		return dst, newErr(t, reasonFields[t], 0, "", &kindError{"reason code or properties in MQTT 3.1.1", ErrProtocol})
	}
	tail := props.tail
	switch {
	case v == V311:
		tail = tailNone
	case !props.empty():
		tail = tailLen
	case tail == 0 && rc == 0:
		tail = tailNone
	case tail == 0 || (tail == tailNone && rc != 0):
		tail = brief
	}
	if tail != tailNone && !rc.ValidIn(t) {
		return dst, newErr(t, reasonFields[t], 0, "2.4", ErrReasonCode)
	}
	switch tail {
	case tailNone:
		return append(append(dst, byte(n)), head...), nil
	case tailCode:
		return append(append(append(dst, byte(n+1)), head...), byte(rc)), nil
	}
	pl := props.propsLen()
	dst = appendVarint(dst, n+1+varintLen(pl)+pl)
	dst = append(append(dst, head...), byte(rc))
	return props.appendProps(dst, t)
}
