package codec

// Packet is any MQTT control packet: *Connect, *Connack, *Publish, *Puback,
// *Pubrec, *Pubrel, *Pubcomp, *Subscribe, *Suback, *Unsubscribe,
// *Unsuback, *Pingreq, *Pingresp, *Disconnect or *Auth.
type Packet interface {
	Type() PacketType
}

// codecPacket is what every packet struct implements.
type codecPacket interface {
	Packet
	decode(b []byte, v Version, rec *recorder) error
	Decode(b []byte, v Version) error
	Append(dst []byte, v Version) ([]byte, error)
}

// factory is the single map from type byte to packet.
var factory = [16]func() codecPacket{
	TypeConnect:     func() codecPacket { return new(Connect) },
	TypeConnack:     func() codecPacket { return new(Connack) },
	TypePublish:     func() codecPacket { return new(Publish) },
	TypePuback:      func() codecPacket { return new(Puback) },
	TypePubrec:      func() codecPacket { return new(Pubrec) },
	TypePubrel:      func() codecPacket { return new(Pubrel) },
	TypePubcomp:     func() codecPacket { return new(Pubcomp) },
	TypeSubscribe:   func() codecPacket { return new(Subscribe) },
	TypeSuback:      func() codecPacket { return new(Suback) },
	TypeUnsubscribe: func() codecPacket { return new(Unsubscribe) },
	TypeUnsuback:    func() codecPacket { return new(Unsuback) },
	TypePingreq:     func() codecPacket { return new(Pingreq) },
	TypePingresp:    func() codecPacket { return new(Pingresp) },
	TypeDisconnect:  func() codecPacket { return new(Disconnect) },
	TypeAuth:        func() codecPacket { return new(Auth) },
}

// New returns a new zero packet of type t, or nil for the reserved type 0
// or a value above 15.
func New(t PacketType) Packet {
	if t > 15 || factory[t] == nil {
		return nil
	}
	return factory[t]()
}

// Decode decodes the single whole packet b (as returned by a Splitter),
// read as version v; a CONNECT is read as the version its own protocol level
// says. b must hold exactly one packet: a shorter b is ErrShort, a longer one
// ErrTrailing. The returned packet's strings and byte slices are views into
// b (see the package doc). Use the per-type Decode methods, or a Decoder,
// to decode into a reused struct without allocating.
func Decode(b []byte, v Version) (Packet, error) {
	return decode(b, v, nil)
}

// Decoder decodes as Decode does, but a PUBLISH or a PUBACK (what a flood
// is made of) into structs of its own, used again by its next Decode
// rather than a new one each: what it returns for those is valid until
// then, and must not be kept. Other packets are new each time. The zero
// Decoder is ready; it is not safe for concurrent use.
type Decoder struct {
	pub    Publish
	puback Puback
}

// Decode decodes the single whole packet b as Decode(b, v) does.
func (d *Decoder) Decode(b []byte, v Version) (Packet, error) {
	if len(b) > 0 {
		switch PacketType(b[0] >> 4) {
		case TypePublish:
			return &d.pub, d.pub.Decode(b, v) // which sets every field
		case TypePuback:
			return &d.puback, d.puback.Decode(b, v)
		}
	}
	return Decode(b, v)
}

func decode(b []byte, v Version, rec *recorder) (Packet, error) {
	if len(b) == 0 {
		return nil, newErr(0, "mqtt.hdrflags", 0, "MQTT-2.1.1", ErrShort)
	}
	t := PacketType(b[0] >> 4)
	if factory[t] == nil {
		c := cursor{b: b, end: len(b), t: t, v: v, rec: rec}
		_, err := c.header(t)
		return nil, err
	}
	p := factory[t]()
	if rec == nil {
		if err := p.Decode(b, v); err != nil {
			return p, err
		}
		return p, nil
	}
	if err := p.decode(b, v, rec); err != nil {
		return p, err
	}
	return p, nil
}

// AppendPacket appends the encoding of p as version v to dst.
func AppendPacket(dst []byte, p Packet, v Version) ([]byte, error) {
	cp, ok := p.(codecPacket)
	if !ok {
		return dst, newErr(0, "", 0, "", ErrInvalidType)
	}
	return cp.Append(dst, v)
}

// fixedFlags are the required flag bits of each packet type [MQTT-2.2.2-1];
// -1 means the type defines its own (PUBLISH) or is reserved.
var fixedFlags = [16]int8{-1, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0}

var msgTypeLabels = [16]string{
	"Reserved", "Connect Command", "Connect Ack", "Publish Message", "Publish Ack",
	"Publish Received", "Publish Release", "Publish Complete", "Subscribe Request",
	"Subscribe Ack", "Unsubscribe Request", "Unsubscribe Ack", "Ping Request",
	"Ping Response", "Disconnect Req", "Authentication Exchange",
}

// header reads the fixed header [2.1] of a packet expected to be of type
// want and sets c.end. It returns the flag nibble.
func (c *cursor) header(want PacketType) (byte, error) {
	b := c.b
	if len(b) < 2 {
		return 0, c.failAt(0, "mqtt.len", "MQTT-2.1.1", ErrShort)
	}
	t, flags := PacketType(b[0]>>4), b[0]&15
	if c.v != V311 && c.v != V5 && want != TypeConnect {
		return 0, c.failAt(0, "", "", ErrUnsupportedVer)
	}
	if c.rec != nil {
		c.recordHeader(t, flags)
	}
	if t != want || t == 0 || (t == TypeAuth && c.v != V5) {
		return 0, c.failAt(0, "mqtt.msgtype", clause(c.v, "2.2.1", "2.1.2"), ErrInvalidType)
	}
	if f := fixedFlags[t]; f >= 0 && flags != byte(f) {
		return 0, c.failAt(0, "mqtt.hdrflags", clause(c.v, "MQTT-2.2.2-1", "MQTT-2.1.3-1"), ErrReservedFlags)
	}
	rem, w, err := readVarint(b, 1)
	if err != nil {
		if err == errNeedMore {
			err = ErrShort
		}
		return 0, c.failAt(1, "mqtt.len", "MQTT-1.5.5-1", err)
	}
	if c.rec != nil {
		c.rec.num("mqtt.len", "Msg Len", 1, w, rem)
	}
	c.off = 1 + w
	c.end = c.off + rem
	if c.end > len(b) {
		err := c.failAt(1, "mqtt.len", "2.1.4", ErrShort)
		if c.rec == nil {
			return 0, err
		}
		c.end = len(b) // dissect what there is
	} else if c.end < len(b) {
		err := c.failAt(c.end, "", "2.1.4", ErrTrailing)
		if c.rec == nil {
			return 0, err
		}
		c.rec.bytes("_ws.malformed.trailing", "Bytes after the packet", c.end, b[c.end:])
	}
	return flags, nil
}

func (c *cursor) recordHeader(t PacketType, flags byte) {
	r := c.rec
	r.open("mqtt.hdrflags", hex8(c.b[0]), "Header Flags: "+hex8(c.b[0])+" ("+t.String()+")", 0, 1)
	r.add(Field{Name: "mqtt.msgtype", Value: itoa(int(t)), Label: "Message Type: " + msgTypeLabels[t] + " (" + itoa(int(t)) + ")", Offset: 0, Length: 1})
	if t == TypePublish {
		r.flag("mqtt.dupflag", "DUP Flag", 0, flags&8 != 0)
		q := QoS(flags >> 1 & 3)
		r.add(Field{Name: "mqtt.qos", Value: itoa(int(q)), Label: "QoS Level: " + q.String() + " (" + itoa(int(q)) + ")", Offset: 0, Length: 1})
		r.flag("mqtt.retain", "Retain", 0, flags&1 != 0)
	} else {
		r.num("mqtt.hdr_reserved", "Reserved", 0, 1, int(flags))
	}
	r.close(-1)
}
