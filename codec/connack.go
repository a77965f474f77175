package codec

// Connack is a CONNACK packet [3.2]. In MQTT 3.1.1 ReasonCode holds the
// return code (0-5).
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     Properties // MQTT 5.0 only
}

// Type returns TypeConnack.
func (*Connack) Type() PacketType { return TypeConnack }

// Decode decodes the whole CONNACK packet b into p without allocating.
func (p *Connack) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Connack) decode(b []byte, v Version, rec *recorder) error {
	c := cursor{b: b, t: TypeConnack, v: v, rec: rec}
	p.SessionPresent, p.ReasonCode = false, 0
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if _, err := c.header(TypeConnack); err != nil {
		return err
	}
	at := c.off
	if err := c.need(2, "mqtt.conack.flags"); err != nil {
		return err
	}
	f := c.b[at]
	if rec != nil {
		rec.open("mqtt.conack.flags", hex8(f), "Acknowledge Flags: "+hex8(f), at, 1)
		rec.flag("mqtt.conack.flags.reserved", "Reserved", at, f&0xfe != 0)
		rec.flag("mqtt.conack.flags.sp", "Session Present", at, f&1 != 0)
		rec.close(-1)
	}
	c.off++
	if f&0xfe != 0 {
		return c.failAt(at, "mqtt.conack.flags", clause(v, "MQTT-3.2.2-1", "3.2.2.1"), ErrReservedFlags)
	}
	p.SessionPresent = f&1 != 0
	if v == V5 {
		var err error
		if p.ReasonCode, err = c.reasonCode(); err != nil {
			return err
		}
		if err := c.readProps(&p.Properties, TypeConnack); err != nil {
			return err
		}
	} else {
		r := ReasonCode(c.b[c.off])
		if rec != nil {
			rec.add(Field{Name: "mqtt.conack.val", Value: itoa(int(r)), Label: "Return Code: " + r.Name(TypeConnack, v) + " (" + itoa(int(r)) + ")", Offset: c.off, Length: 1})
		}
		c.off++
		if r > 5 {
			return c.failAt(c.off-1, "mqtt.conack.val", "3.2.2.3", ErrReasonCode)
		}
		p.ReasonCode = r
	}
	if p.SessionPresent && p.ReasonCode != 0 {
		// A refusing server sets Session Present to 0 [MQTT-3.2.2-4] (5.0: [MQTT-3.2.2-6]).
		return c.failAt(at, "mqtt.conack.flags.sp", clause(v, "MQTT-3.2.2-4", "MQTT-3.2.2-6"), &kindError{"Session Present with a refusal", ErrProtocol})
	}
	return c.done()
}

// Append appends the encoding of p as version v to dst.
func (p *Connack) Append(dst []byte, v Version) ([]byte, error) {
	var f byte
	if p.SessionPresent {
		f = 1
	}
	switch v {
	case V311:
		if p.ReasonCode > 5 {
			return dst, newErr(TypeConnack, "mqtt.conack.val", 0, "3.2.2.3", ErrReasonCode)
		}
		return append(dst, byte(TypeConnack)<<4, 2, f, byte(p.ReasonCode)), nil
	case V5:
		if !p.ReasonCode.ValidIn(TypeConnack) {
			return dst, newErr(TypeConnack, "mqtt.connack.reason_code", 0, "3.2.2.2", ErrReasonCode)
		}
		pl := p.Properties.propsLen()
		dst = appendVarint(append(dst, byte(TypeConnack)<<4), 2+varintLen(pl)+pl)
		return p.Properties.appendProps(append(dst, f, byte(p.ReasonCode)), TypeConnack)
	}
	return dst, newErr(TypeConnack, "", 0, "", ErrUnsupportedVer)
}
