package codec

import "unsafe"

// Publish is a PUBLISH packet [3.3]. Topic and Payload are views into the
// decoded bytes.
type Publish struct {
	Dup        bool
	QoS        QoS
	Retain     bool
	Topic      string // may be "" in MQTT 5.0 when Properties carries a Topic Alias
	PacketID   uint16 // present when QoS > 0
	Properties Properties
	Payload    []byte
}

// Type returns TypePublish.
func (*Publish) Type() PacketType { return TypePublish }

// Decode decodes the whole PUBLISH packet b into p without allocating
// (except for User Properties or Subscription Identifiers beyond the
// capacity p already has).
func (p *Publish) Decode(b []byte, v Version) error {
	if p.decodeFast(b, v) {
		return nil
	}
	return p.decode(b, v, nil)
}

func (p *Publish) decode(b []byte, v Version, rec *recorder) error {
	c := cursor{b: b, t: TypePublish, v: v, rec: rec}
	flags, err := c.header(TypePublish)
	if err != nil {
		return err
	}
	p.Dup, p.QoS, p.Retain = flags&8 != 0, QoS(flags>>1&3), flags&1 != 0
	p.PacketID, p.Payload = 0, nil
	if !p.Properties.empty() {
		p.Properties.reset()
	}
	if p.QoS == 3 {
		return c.failAt(0, "mqtt.qos", "MQTT-3.3.1-4", ErrInvalidQoS)
	}
	if p.Dup && p.QoS == 0 {
		return c.failAt(0, "mqtt.dupflag", "MQTT-3.3.1-2", &kindError{"DUP set on a QoS 0 message", ErrProtocol})
	}
	topicAt := c.off
	if p.Topic, err = c.str("mqtt.topic_len", "mqtt.topic", "Topic"); err != nil {
		return err
	}
	if c.scanned&scanWildcard != 0 {
		return c.failAt(topicAt+2, "mqtt.topic", "MQTT-3.3.2-2", ErrTopicName)
	}
	if p.QoS > 0 {
		if p.PacketID, err = c.packetID(); err != nil {
			return err
		}
	}
	if v == V5 {
		if err := c.readProps(&p.Properties, TypePublish); err != nil {
			return err
		}
	}
	if p.Topic == "" && !(v == V5 && p.Properties.Has(PropTopicAlias)) {
		return c.failAt(topicAt, "mqtt.topic", clause(v, "MQTT-4.7.3-1", "MQTT-3.3.2-1"), ErrTopicName)
	}
	p.Payload = b[c.off:c.end:c.end]
	if rec != nil {
		rec.bytes("mqtt.msg", "Message", c.off, p.Payload)
	}
	c.off = c.end
	return c.done()
}

// Append appends the encoding of p as version v to dst.
func (p *Publish) Append(dst []byte, v Version) ([]byte, error) {
	if v != V311 && v != V5 {
		return dst, newErr(TypePublish, "", 0, "", ErrUnsupportedVer)
	}
	if p.QoS > 2 {
		return dst, newErr(TypePublish, "mqtt.qos", 0, "MQTT-3.3.1-4", ErrInvalidQoS)
	}
	if p.QoS > 0 && p.PacketID == 0 {
		return dst, newErr(TypePublish, "mqtt.msgid", 0, clause(v, "MQTT-2.3.1-1", "MQTT-2.2.1-3"), ErrZeroPacketID)
	}
	if cl := checkTopicName(p.Topic); cl != "" || len(p.Topic) > 65535 {
		return dst, newErr(TypePublish, "mqtt.topic", 0, cl, ErrTopicName)
	}
	n := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		n += 2
	}
	pl := 0
	if v == V5 {
		pl = p.Properties.propsLen()
		n += varintLen(pl) + pl
	} else if p.Topic == "" {
		return dst, newErr(TypePublish, "mqtt.topic", 0, "MQTT-4.7.3-1", ErrTopicName)
	}
	if n > maxVarint {
		return dst, newErr(TypePublish, "mqtt.len", 0, "1.5.5", ErrPacketTooLarge)
	}
	h := byte(TypePublish)<<4 | byte(p.QoS)<<1
	if p.Dup {
		h |= 8
	}
	if p.Retain {
		h |= 1
	}
	// Room for the whole packet at once, not a growth a part; at least
	// doubled (amortized), for callers that append many packets. By hand:
	// append(dst, make(…)...) is one allocation only where the compiler
	// fuses the two, not under -race.
	if k := 1 + varintLen(n) + n; cap(dst)-len(dst) < k {
		grown := make([]byte, len(dst), max(2*cap(dst), len(dst)+k))
		copy(grown, dst)
		dst = grown
	}
	dst = appendVarint(append(dst, h), n)
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendU16(dst, p.PacketID)
	}
	if v == V5 {
		var err error
		if dst, err = p.Properties.appendProps(dst, TypePublish); err != nil {
			return dst, err
		}
	}
	return append(dst, p.Payload...), nil
}

// checkTopicName returns "" if s may be a Topic Name, else the clause it
// breaks: Topic Names carry no wildcards [MQTT-3.3.2-2] [MQTT-4.7.1-1].
func checkTopicName(s string) string {
	if scan(unsafe.Slice(unsafe.StringData(s), len(s)))&scanWildcard != 0 {
		return "MQTT-3.3.2-2"
	}
	return ""
}

// checkTopicFilter returns "" if s is a well-formed Topic Filter [4.7], else
// the clause it breaks.
func checkTopicFilter(s string, v Version) string {
	if s == "" {
		return "MQTT-4.7.3-1" // at least one character
	}
	if v == V5 && len(s) > 7 && s[:7] == "$share/" {
		// $share/{ShareName}/{filter} [4.8.2]
		rest := s[7:]
		i := 0
		for i < len(rest) && rest[i] != '/' {
			if rest[i] == '+' || rest[i] == '#' {
				return "MQTT-4.8.2-2"
			}
			i++
		}
		if i == 0 || i >= len(rest)-1 {
			return "MQTT-4.8.2-1"
		}
		s = rest[i+1:]
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '#':
			// Multi-level wildcard: alone in the last level [MQTT-4.7.1-2].
			if i != len(s)-1 || (i > 0 && s[i-1] != '/') {
				return "MQTT-4.7.1-2"
			}
		case '+':
			// Single-level wildcard: occupies a whole level [MQTT-4.7.1-3].
			if (i > 0 && s[i-1] != '/') || (i < len(s)-1 && s[i+1] != '/') {
				return "MQTT-4.7.1-3"
			}
		}
	}
	return ""
}
