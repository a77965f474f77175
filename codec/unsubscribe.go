package codec

// Unsubscribe is an UNSUBSCRIBE packet [3.10].
type Unsubscribe struct {
	PacketID   uint16
	Properties Properties // MQTT 5.0 only
	Filters    []string
}

// Unsuback is an UNSUBACK packet [3.11]. ReasonCodes (one per filter) and
// Properties exist in MQTT 5.0 only.
type Unsuback struct {
	PacketID    uint16
	Properties  Properties
	ReasonCodes []ReasonCode
}

func (*Unsubscribe) Type() PacketType { return TypeUnsubscribe }
func (*Unsuback) Type() PacketType    { return TypeUnsuback }

// Decode decodes the whole UNSUBSCRIBE packet b into p, reusing the
// capacity of p.Filters.
func (p *Unsubscribe) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Unsubscribe) decode(b []byte, v Version, rec *recorder) error {
	c := cursor{b: b, t: TypeUnsubscribe, v: v, rec: rec}
	p.PacketID, p.Filters = 0, p.Filters[:0]
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if _, err := c.header(TypeUnsubscribe); err != nil {
		return err
	}
	var err error
	if p.PacketID, err = c.packetID(); err != nil {
		return err
	}
	if v == V5 {
		if err := c.readProps(&p.Properties, TypeUnsubscribe); err != nil {
			return err
		}
	}
	if c.off == c.end {
		// At least one Topic Filter [MQTT-3.10.3-2].
		return c.fail("mqtt.topic", "MQTT-3.10.3-2", ErrEmptyPayload)
	}
	for c.off < c.end {
		at := c.off
		f, err := c.str("mqtt.topic_len", "mqtt.topic", "Topic")
		if err != nil {
			return err
		}
		if cl := checkTopicFilter(f, v); cl != "" {
			return c.failAt(at+2, "mqtt.topic", cl, ErrTopicFilter)
		}
		p.Filters = append(p.Filters, f)
	}
	return c.done()
}

// Append appends the encoding of p as version v to dst.
func (p *Unsubscribe) Append(dst []byte, v Version) ([]byte, error) {
	if v != V311 && v != V5 {
		return dst, newErr(TypeUnsubscribe, "", 0, "", ErrUnsupportedVer)
	}
	if p.PacketID == 0 {
		return dst, newErr(TypeUnsubscribe, "mqtt.msgid", 0, clause(v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"), ErrZeroPacketID)
	}
	if len(p.Filters) == 0 {
		return dst, newErr(TypeUnsubscribe, "mqtt.topic", 0, "MQTT-3.10.3-2", ErrEmptyPayload)
	}
	n := 2
	for _, f := range p.Filters {
		if cl := checkTopicFilter(f, v); cl != "" || len(f) > 65535 {
			return dst, newErr(TypeUnsubscribe, "mqtt.topic", 0, cl, ErrTopicFilter)
		}
		n += 2 + len(f)
	}
	if v == V5 {
		pl := p.Properties.propsLen()
		n += varintLen(pl) + pl
	}
	if n > maxVarint {
		return dst, newErr(TypeUnsubscribe, "mqtt.len", 0, "1.5.5", ErrPacketTooLarge)
	}
	dst = appendVarint(append(dst, byte(TypeUnsubscribe)<<4|2), n)
	dst = appendU16(dst, p.PacketID)
	if v == V5 {
		var err error
		if dst, err = p.Properties.appendProps(dst, TypeUnsubscribe); err != nil {
			return dst, err
		}
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

// Decode decodes the whole UNSUBACK packet b into p.
func (p *Unsuback) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Unsuback) decode(b []byte, v Version, rec *recorder) error {
	p.ReasonCodes = p.ReasonCodes[:0]
	return decodeCodes(b, v, rec, TypeUnsuback, &p.PacketID, &p.Properties, &p.ReasonCodes)
}

// Append appends the encoding of p as version v to dst.
func (p *Unsuback) Append(dst []byte, v Version) ([]byte, error) {
	return appendCodes(dst, v, TypeUnsuback, p.PacketID, &p.Properties, p.ReasonCodes)
}

// Check reports whether p answers u: in MQTT 5.0 an UNSUBACK carries one
// Reason Code per Topic Filter [MQTT-3.11.3-1]... and the same Packet
// Identifier [MQTT-3.10.4-4].
func (p *Unsuback) Check(u *Unsubscribe, v Version) error {
	if p.PacketID != u.PacketID {
		return newErr(TypeUnsuback, "mqtt.msgid", 0, "MQTT-3.10.4-4", &kindError{"packet identifier does not match", ErrProtocol})
	}
	if v == V5 && len(p.ReasonCodes) != len(u.Filters) {
		return newErr(TypeUnsuback, reasonFields[TypeUnsuback], 0, "MQTT-3.10.4-5", ErrReasonCount)
	}
	return nil
}
