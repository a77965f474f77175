package codec

// Connect is a CONNECT packet [3.1]. Decode takes the version from the
// packet's protocol level byte and stores it in Version; Append encodes as
// its v argument, or as p.Version when v is 0.
type Connect struct {
	Version        Version // protocol level: V311 or V5
	CleanStart     bool    // Clean Session in MQTT 3.1.1
	KeepAlive      uint16  // seconds
	Properties     Properties
	ClientID       string
	WillFlag       bool
	WillQoS        QoS
	WillRetain     bool
	WillProperties Properties // MQTT 5.0 only
	WillTopic      string
	WillPayload    []byte
	UsernameFlag   bool
	Username       string
	PasswordFlag   bool
	Password       []byte
}

// Type returns TypeConnect.
func (*Connect) Type() PacketType { return TypeConnect }

// Connect flag bits [3.1.2.3].
const (
	flagUsername   = 0x80
	flagPassword   = 0x40
	flagWillRetain = 0x20
	flagWillQoS    = 0x18
	flagWill       = 0x04
	flagClean      = 0x02
	flagReserved   = 0x01
)

// PeekVersion returns the protocol level of the CONNECT packet at the start
// of b, which a server needs before it can read anything else. It checks the
// protocol name and level [MQTT-3.1.2-1] [MQTT-3.1.2-2].
func PeekVersion(b []byte) (Version, error) {
	c := cursor{b: b, t: TypeConnect, v: V311}
	if _, err := c.header(TypeConnect); err != nil {
		return 0, err
	}
	return c.protocol()
}

func (c *cursor) protocol() (Version, error) {
	if b := c.b[c.off:c.end]; c.rec == nil && len(b) >= 7 && b[0] == 0 && b[1] == 4 && b[2] == 'M' && b[3] == 'Q' && b[4] == 'T' && b[5] == 'T' && (b[6] == 4 || b[6] == 5) {
		c.off += 7
		return Version(b[6]), nil // the common case, without the generic string path
	}
	name, err := c.str("mqtt.proto_len", "mqtt.protoname", "Protocol Name")
	if err != nil {
		return 0, err
	}
	at := c.off
	lvl, err := c.u8("mqtt.ver", "Version")
	if err != nil {
		return 0, err
	}
	if name != "MQTT" {
		return Version(lvl), c.failAt(at-len(name), "mqtt.protoname", "MQTT-3.1.2-1", ErrProtocolName)
	}
	if Version(lvl) != V311 && Version(lvl) != V5 {
		return Version(lvl), c.failAt(at, "mqtt.ver", "MQTT-3.1.2-2", ErrUnsupportedVer)
	}
	return Version(lvl), nil
}

// Decode decodes the whole CONNECT packet b into p. The version argument is
// ignored: the packet says which it is.
func (p *Connect) Decode(b []byte, v Version) error {
	if p.decodeFast(b) {
		return nil
	}
	return p.decode(b, v, nil)
}

func (p *Connect) decode(b []byte, _ Version, rec *recorder) error {
	c := cursor{b: b, t: TypeConnect, v: V311, rec: rec}
	p.reset()
	if _, err := c.header(TypeConnect); err != nil {
		return err
	}
	v, err := c.protocol()
	p.Version, c.v = v, v
	if err != nil {
		return err
	}
	at := c.off
	if err := c.need(1, "mqtt.conflags"); err != nil {
		return err
	}
	f := c.b[c.off]
	if rec != nil {
		rec.open("mqtt.conflags", hex8(f), "Connect Flags: "+hex8(f), at, 1)
		rec.flag("mqtt.conflag.uname", "User Name Flag", at, f&flagUsername != 0)
		rec.flag("mqtt.conflag.passwd", "Password Flag", at, f&flagPassword != 0)
		rec.flag("mqtt.conflag.retain", "Will Retain", at, f&flagWillRetain != 0)
		q := QoS(f & flagWillQoS >> 3)
		rec.add(Field{Name: "mqtt.conflag.qos", Value: itoa(int(q)), Label: "QoS Level: " + q.String() + " (" + itoa(int(q)) + ")", Offset: at, Length: 1})
		rec.flag("mqtt.conflag.willflag", "Will Flag", at, f&flagWill != 0)
		rec.flag("mqtt.conflag.cleansess", "Clean Session Flag", at, f&flagClean != 0)
		rec.flag("mqtt.conflag.reserved", "(Reserved)", at, f&flagReserved != 0)
		rec.close(-1)
	}
	c.off++
	p.UsernameFlag, p.PasswordFlag = f&flagUsername != 0, f&flagPassword != 0
	p.WillRetain, p.WillQoS = f&flagWillRetain != 0, QoS(f&flagWillQoS>>3)
	p.WillFlag, p.CleanStart = f&flagWill != 0, f&flagClean != 0
	switch {
	case f&flagReserved != 0:
		return c.failAt(at, "mqtt.conflag.reserved", "MQTT-3.1.2-3", ErrReservedFlags)
	case p.WillQoS == 3:
		return c.failAt(at, "mqtt.conflag.qos", clause(v, "MQTT-3.1.2-14", "MQTT-3.1.2-12"), ErrInvalidQoS)
	case !p.WillFlag && (p.WillQoS != 0 || p.WillRetain):
		return c.failAt(at, "mqtt.conflag.willflag", clause(v, "MQTT-3.1.2-13", "MQTT-3.1.2-11"), ErrReservedFlags)
	case v == V311 && p.PasswordFlag && !p.UsernameFlag:
		return c.failAt(at, "mqtt.conflag.passwd", "MQTT-3.1.2-22", &kindError{"password without user name", ErrProtocol})
	}
	if p.KeepAlive, err = c.u16("mqtt.kalive", "Keep Alive"); err != nil {
		return err
	}
	if v == V5 {
		if err := c.readProps(&p.Properties, TypeConnect); err != nil {
			return err
		}
	}
	if p.ClientID, err = c.str("mqtt.clientid_len", "mqtt.clientid", "Client ID"); err != nil {
		return err
	}
	if p.WillFlag {
		if v == V5 {
			if err := c.readProps(&p.WillProperties, 0); err != nil {
				return err
			}
		}
		at := c.off
		if p.WillTopic, err = c.str("mqtt.willtopic_len", "mqtt.willtopic", "Will Topic"); err != nil {
			return err
		}
		if c.scanned&scanWildcard != 0 {
			return c.failAt(at+2, "mqtt.willtopic", "MQTT-3.3.2-2", ErrTopicName)
		}
		if p.WillTopic == "" {
			return c.failAt(at, "mqtt.willtopic", "MQTT-4.7.3-1", ErrTopicName)
		}
		if p.WillPayload, err = c.bin("mqtt.willmsg_len", "mqtt.willmsg", "Will Message", false); err != nil {
			return err
		}
	}
	if p.UsernameFlag {
		if p.Username, err = c.str("mqtt.username_len", "mqtt.username", "User Name"); err != nil {
			return err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = c.bin("mqtt.passwd_len", "mqtt.passwd", "Password", true); err != nil {
			return err
		}
	}
	return c.done()
}

// reset zeroes p field by field, keeping the properties' slices; it avoids
// copying the two large Properties structs.
func (p *Connect) reset() {
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if !p.WillProperties.empty() {
		p.WillProperties.reset()
	}
	p.Version, p.CleanStart, p.KeepAlive, p.ClientID = 0, false, 0, ""
	p.WillFlag, p.WillQoS, p.WillRetain, p.WillTopic, p.WillPayload = false, 0, false, "", nil
	p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = false, "", false, nil
}

// Append appends the encoding of p to dst, as version v (or p.Version if v
// is 0).
func (p *Connect) Append(dst []byte, v Version) ([]byte, error) {
	if v == 0 {
		v = p.Version
	}
	if v != V311 && v != V5 {
		return dst, newErr(TypeConnect, "mqtt.ver", 0, "MQTT-3.1.2-2", ErrUnsupportedVer)
	}
	var f byte
	n := 2 + 4 + 1 + 1 + 2 + 2 + len(p.ClientID)
	if p.CleanStart {
		f |= flagClean
	}
	if p.WillFlag {
		if p.WillQoS > 2 {
			return dst, newErr(TypeConnect, "mqtt.conflag.qos", 0, clause(v, "MQTT-3.1.2-14", "MQTT-3.1.2-12"), ErrInvalidQoS)
		}
		if checkTopicName(p.WillTopic) != "" || p.WillTopic == "" {
			return dst, newErr(TypeConnect, "mqtt.willtopic", 0, "MQTT-3.3.2-2", ErrTopicName)
		}
		f |= flagWill | byte(p.WillQoS)<<3
		if p.WillRetain {
			f |= flagWillRetain
		}
		n += 4 + len(p.WillTopic) + len(p.WillPayload)
		if v == V5 {
			wl := p.WillProperties.propsLen()
			n += varintLen(wl) + wl
		}
	} else if p.WillQoS != 0 || p.WillRetain {
		return dst, newErr(TypeConnect, "mqtt.conflag.willflag", 0, clause(v, "MQTT-3.1.2-13", "MQTT-3.1.2-11"), ErrReservedFlags)
	}
	if p.UsernameFlag {
		f |= flagUsername
		n += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		if v == V311 && !p.UsernameFlag {
			return dst, newErr(TypeConnect, "mqtt.conflag.passwd", 0, "MQTT-3.1.2-22", &kindError{"password without user name", ErrProtocol})
		}
		f |= flagPassword
		n += 2 + len(p.Password)
	}
	if v == V5 {
		pl := p.Properties.propsLen()
		n += varintLen(pl) + pl
	}
	if len(p.ClientID) > 65535 || len(p.Username) > 65535 || len(p.Password) > 65535 || len(p.WillTopic) > 65535 || len(p.WillPayload) > 65535 {
		return dst, newErr(TypeConnect, "", 0, "1.5.4", ErrFieldTooLong)
	}
	if n > maxVarint {
		return dst, newErr(TypeConnect, "mqtt.len", 0, "1.5.5", ErrPacketTooLarge)
	}
	dst = appendVarint(append(dst, byte(TypeConnect)<<4), n)
	dst = append(dst, 0, 4, 'M', 'Q', 'T', 'T', byte(v), f, byte(p.KeepAlive>>8), byte(p.KeepAlive))
	var err error
	if v == V5 {
		if dst, err = p.Properties.appendProps(dst, TypeConnect); err != nil {
			return dst, err
		}
	}
	dst = appendString(dst, p.ClientID)
	if p.WillFlag {
		if v == V5 {
			if dst, err = p.WillProperties.appendProps(dst, 0); err != nil {
				return dst, err
			}
		}
		dst = appendBinary(appendString(dst, p.WillTopic), p.WillPayload)
	}
	if p.UsernameFlag {
		dst = appendString(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBinary(dst, p.Password)
	}
	return dst, nil
}
