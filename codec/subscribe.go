package codec

// Subscription is one Topic Filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            string
	QoS               QoS  // maximum QoS
	NoLocal           bool // MQTT 5.0
	RetainAsPublished bool // MQTT 5.0
	RetainHandling    byte // MQTT 5.0: 0, 1 or 2
}

// Subscribe is a SUBSCRIBE packet [3.8].
type Subscribe struct {
	PacketID      uint16
	Properties    Properties // MQTT 5.0 only
	Subscriptions []Subscription
}

// Suback is a SUBACK packet [3.9]: one code per subscription, in MQTT
// 3.1.1 the granted QoS (0-2) or 0x80 Failure.
type Suback struct {
	PacketID    uint16
	Properties  Properties // MQTT 5.0 only
	ReasonCodes []ReasonCode
}

func (*Subscribe) Type() PacketType { return TypeSubscribe }
func (*Suback) Type() PacketType    { return TypeSuback }

// Decode decodes the whole SUBSCRIBE packet b into p, reusing the capacity
// of p.Subscriptions.
func (p *Subscribe) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Subscribe) decode(b []byte, v Version, rec *recorder) error {
	c := cursor{b: b, t: TypeSubscribe, v: v, rec: rec}
	p.PacketID, p.Subscriptions = 0, p.Subscriptions[:0]
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if _, err := c.header(TypeSubscribe); err != nil {
		return err
	}
	var err error
	if p.PacketID, err = c.packetID(); err != nil {
		return err
	}
	if v == V5 {
		if err := c.readProps(&p.Properties, TypeSubscribe); err != nil {
			return err
		}
	}
	if c.off == c.end {
		// At least one Topic Filter [MQTT-3.8.3-3] (5.0: [MQTT-3.8.3-2]).
		return c.fail("mqtt.topic", clause(v, "MQTT-3.8.3-3", "MQTT-3.8.3-2"), ErrEmptyPayload)
	}
	for c.off < c.end {
		at := c.off
		var s Subscription
		if s.Filter, err = c.str("mqtt.topic_len", "mqtt.topic", "Topic"); err != nil {
			return err
		}
		if cl := checkTopicFilter(s.Filter, v); cl != "" {
			return c.failAt(at+2, "mqtt.topic", cl, ErrTopicFilter)
		}
		if err := c.need(1, "mqtt.sub.qos"); err != nil {
			return err
		}
		o := c.b[c.off]
		s.QoS = QoS(o & 3)
		if v == V5 {
			s.NoLocal, s.RetainAsPublished, s.RetainHandling = o&4 != 0, o&8 != 0, o>>4&3
			if rec != nil {
				rec.open("mqtt.subscription_options", hex8(o), "Subscription Options: "+hex8(o), c.off, 1)
				rec.add(Field{Name: "mqtt.subscription_options_reserved", Value: hex8(o >> 6), Label: "Reserved: " + hex8(o>>6), Offset: c.off, Length: 1})
				rec.num("mqtt.subscription_options_retain", "Retain Handling", c.off, 1, int(s.RetainHandling))
				rec.flag("mqtt.subscription_options_rap", "Retain As Published", c.off, s.RetainAsPublished)
				rec.flag("mqtt.subscription_options_nl", "No Local", c.off, s.NoLocal)
				rec.num("mqtt.subscription_options_qos", "QoS", c.off, 1, int(s.QoS))
				rec.close(-1)
			}
			switch {
			case o&0xc0 != 0:
				return c.fail("mqtt.subscription_options", "MQTT-3.8.3-5", ErrReservedFlags)
			case s.QoS == 3:
				return c.fail("mqtt.subscription_options_qos", "3.8.3.1", ErrInvalidQoS)
			case s.RetainHandling == 3:
				return c.fail("mqtt.subscription_options_retain", "3.8.3.1", &kindError{"Retain Handling 3", ErrProtocol})
			case s.NoLocal && len(s.Filter) > 7 && s.Filter[:7] == "$share/":
				return c.fail("mqtt.subscription_options_nl", "MQTT-3.8.3-4", &kindError{"No Local on a shared subscription", ErrProtocol})
			}
		} else {
			if rec != nil {
				rec.add(Field{Name: "mqtt.sub.qos", Value: itoa(int(o)), Label: "Requested QoS: " + QoS(o).String() + " (" + itoa(int(o)) + ")", Offset: c.off, Length: 1})
			}
			if o&0xfc != 0 {
				return c.fail("mqtt.sub.qos", "MQTT-3-8.3-4", ErrReservedFlags)
			}
			if s.QoS == 3 {
				return c.fail("mqtt.sub.qos", "MQTT-3-8.3-4", ErrInvalidQoS)
			}
		}
		c.off++
		p.Subscriptions = append(p.Subscriptions, s)
	}
	return c.done()
}

// Append appends the encoding of p as version v to dst.
func (p *Subscribe) Append(dst []byte, v Version) ([]byte, error) {
	if v != V311 && v != V5 {
		return dst, newErr(TypeSubscribe, "", 0, "", ErrUnsupportedVer)
	}
	if p.PacketID == 0 {
		return dst, newErr(TypeSubscribe, "mqtt.msgid", 0, clause(v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"), ErrZeroPacketID)
	}
	if len(p.Subscriptions) == 0 {
		return dst, newErr(TypeSubscribe, "mqtt.topic", 0, clause(v, "MQTT-3.8.3-3", "MQTT-3.8.3-2"), ErrEmptyPayload)
	}
	n := 2
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if cl := checkTopicFilter(s.Filter, v); cl != "" || len(s.Filter) > 65535 {
			return dst, newErr(TypeSubscribe, "mqtt.topic", 0, cl, ErrTopicFilter)
		}
		if s.QoS > 2 || s.RetainHandling > 2 || (v == V311 && (s.NoLocal || s.RetainAsPublished || s.RetainHandling != 0)) {
			return dst, newErr(TypeSubscribe, "mqtt.sub.qos", 0, "3.8.3.1", ErrInvalidValue)
		}
		n += 3 + len(s.Filter)
	}
	if v == V5 {
		pl := p.Properties.propsLen()
		n += varintLen(pl) + pl
	}
	if n > maxVarint {
		return dst, newErr(TypeSubscribe, "mqtt.len", 0, "1.5.5", ErrPacketTooLarge)
	}
	dst = appendVarint(append(dst, byte(TypeSubscribe)<<4|2), n)
	dst = appendU16(dst, p.PacketID)
	if v == V5 {
		var err error
		if dst, err = p.Properties.appendProps(dst, TypeSubscribe); err != nil {
			return dst, err
		}
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		o := byte(s.QoS) | s.RetainHandling<<4
		if s.NoLocal {
			o |= 4
		}
		if s.RetainAsPublished {
			o |= 8
		}
		dst = append(appendString(dst, s.Filter), o)
	}
	return dst, nil
}

// Decode decodes the whole SUBACK packet b into p, reusing the capacity of
// p.ReasonCodes.
func (p *Suback) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Suback) decode(b []byte, v Version, rec *recorder) error {
	p.ReasonCodes = p.ReasonCodes[:0]
	return decodeCodes(b, v, rec, TypeSuback, &p.PacketID, &p.Properties, &p.ReasonCodes)
}

// Append appends the encoding of p as version v to dst.
func (p *Suback) Append(dst []byte, v Version) ([]byte, error) {
	return appendCodes(dst, v, TypeSuback, p.PacketID, &p.Properties, p.ReasonCodes)
}

// Check reports whether p answers s: a SUBACK carries one code per Topic
// Filter of the SUBSCRIBE [MQTT-3.8.4-5] (5.0: [MQTT-3.8.4-6]) and the same
// Packet Identifier [MQTT-3.8.4-2].
func (p *Suback) Check(s *Subscribe, v Version) error {
	if p.PacketID != s.PacketID {
		return newErr(TypeSuback, "mqtt.msgid", 0, "MQTT-3.8.4-2", &kindError{"packet identifier does not match", ErrProtocol})
	}
	if len(p.ReasonCodes) != len(s.Subscriptions) {
		return newErr(TypeSuback, reasonFields[TypeSuback], 0, clause(v, "MQTT-3.8.4-5", "MQTT-3.8.4-6"), ErrReasonCount)
	}
	return nil
}

// decodeCodes decodes the shape SUBACK and UNSUBACK share: Packet
// Identifier, MQTT 5.0 Properties, a list of one-byte codes.
func decodeCodes(b []byte, v Version, rec *recorder, t PacketType, id *uint16, props *Properties, codes *[]ReasonCode) error {
	c := cursor{b: b, t: t, v: v, rec: rec}
	*id = 0
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
	if v == V5 {
		if err := c.readProps(props, t); err != nil {
			return err
		}
	} else if t == TypeUnsuback {
		return c.done() // 3.1.1 UNSUBACK has no payload
	}
	if c.off == c.end {
		return c.fail(reasonFields[t], clause(v, "MQTT-3.8.4-5", "3.9.3"), ErrReasonCount)
	}
	for c.off < c.end {
		var r ReasonCode
		if v == V5 {
			if r, err = c.reasonCode(); err != nil {
				return err
			}
		} else {
			r = ReasonCode(c.b[c.off])
			if rec != nil {
				rec.add(Field{Name: "mqtt.suback.qos", Value: itoa(int(r)), Label: "Granted QoS: " + r.Name(t, v) + " (" + itoa(int(r)) + ")", Offset: c.off, Length: 1})
			}
			if r > 2 && r != 0x80 {
				return c.fail("mqtt.suback.qos", "MQTT-3.9.3-2", ErrReasonCode)
			}
			c.off++
		}
		*codes = append(*codes, r)
	}
	return c.done()
}

func appendCodes(dst []byte, v Version, t PacketType, id uint16, props *Properties, codes []ReasonCode) ([]byte, error) {
	if v != V311 && v != V5 {
		return dst, newErr(t, "", 0, "", ErrUnsupportedVer)
	}
	if id == 0 {
		return dst, newErr(t, "mqtt.msgid", 0, clause(v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"), ErrZeroPacketID)
	}
	n := 2
	if v == V5 {
		pl := props.propsLen()
		n += varintLen(pl) + pl + len(codes)
		if len(codes) == 0 {
			return dst, newErr(t, reasonFields[t], 0, "3.9.3", ErrReasonCount)
		}
		for _, r := range codes {
			if !r.ValidIn(t) {
				return dst, newErr(t, reasonFields[t], 0, "2.4", ErrReasonCode)
			}
		}
	} else if t == TypeSuback {
		if len(codes) == 0 {
			return dst, newErr(t, "mqtt.suback.qos", 0, "MQTT-3.8.4-5", ErrReasonCount)
		}
		for _, r := range codes {
			if r > 2 && r != 0x80 {
				return dst, newErr(t, "mqtt.suback.qos", 0, "MQTT-3.9.3-2", ErrReasonCode)
			}
		}
		n += len(codes)
	} else if len(codes) > 0 || !props.empty() {
		return dst, newErr(t, reasonFields[t], 0, "3.11.3", &kindError{"reason codes in an MQTT 3.1.1 UNSUBACK", ErrProtocol})
	}
	if n > maxVarint {
		return dst, newErr(t, "mqtt.len", 0, "1.5.5", ErrPacketTooLarge)
	}
	dst = appendVarint(append(dst, byte(t)<<4), n)
	dst = appendU16(dst, id)
	if v == V5 {
		var err error
		if dst, err = props.appendProps(dst, t); err != nil {
			return dst, err
		}
	}
	for _, r := range codes {
		dst = append(dst, byte(r))
	}
	return dst, nil
}
