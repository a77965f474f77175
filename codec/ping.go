package codec

// Pingreq is a PINGREQ packet [3.12]: a fixed header only.
type Pingreq struct{}

// Pingresp is a PINGRESP packet [3.13]: a fixed header only.
type Pingresp struct{}

func (*Pingreq) Type() PacketType  { return TypePingreq }
func (*Pingresp) Type() PacketType { return TypePingresp }

// Decode checks that b is a well-formed PINGREQ.
func (p *Pingreq) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

// Decode checks that b is a well-formed PINGRESP.
func (p *Pingresp) Decode(b []byte, v Version) error { return p.decode(b, v, nil) }

func (p *Pingreq) decode(b []byte, v Version, rec *recorder) error {
	return decodeEmpty(b, v, rec, TypePingreq)
}

func (p *Pingresp) decode(b []byte, v Version, rec *recorder) error {
	return decodeEmpty(b, v, rec, TypePingresp)
}

// Append appends the two bytes of a PINGREQ.
func (p *Pingreq) Append(dst []byte, v Version) ([]byte, error) {
	return append(dst, byte(TypePingreq)<<4, 0), nil
}

// Append appends the two bytes of a PINGRESP.
func (p *Pingresp) Append(dst []byte, v Version) ([]byte, error) {
	return append(dst, byte(TypePingresp)<<4, 0), nil
}

func decodeEmpty(b []byte, v Version, rec *recorder, t PacketType) error {
	c := cursor{b: b, t: t, v: v, rec: rec}
	if _, err := c.header(t); err != nil {
		return err
	}
	return c.done()
}
