package codec

import (
	"math/bits"
	"strconv"
)

// PropertyID identifies an MQTT 5.0 property [2.2.2.2].
type PropertyID byte

// The 27 property identifiers of MQTT 5.0 [2.2.2.2].
const (
	PropPayloadFormat        PropertyID = 0x01
	PropMessageExpiry        PropertyID = 0x02
	PropContentType          PropertyID = 0x03
	PropResponseTopic        PropertyID = 0x08
	PropCorrelationData      PropertyID = 0x09
	PropSubscriptionID       PropertyID = 0x0B
	PropSessionExpiry        PropertyID = 0x11
	PropAssignedClientID     PropertyID = 0x12
	PropServerKeepAlive      PropertyID = 0x13
	PropAuthMethod           PropertyID = 0x15
	PropAuthData             PropertyID = 0x16
	PropRequestProblemInfo   PropertyID = 0x17
	PropWillDelay            PropertyID = 0x18
	PropRequestResponseInfo  PropertyID = 0x19
	PropResponseInfo         PropertyID = 0x1A
	PropServerReference      PropertyID = 0x1C
	PropReasonString         PropertyID = 0x1F
	PropReceiveMaximum       PropertyID = 0x21
	PropTopicAliasMaximum    PropertyID = 0x22
	PropTopicAlias           PropertyID = 0x23
	PropMaximumQoS           PropertyID = 0x24
	PropRetainAvailable      PropertyID = 0x25
	PropUser                 PropertyID = 0x26
	PropMaximumPacketSize    PropertyID = 0x27
	PropWildcardSubAvailable PropertyID = 0x28
	PropSubIDAvailable       PropertyID = 0x29
	PropSharedSubAvailable   PropertyID = 0x2A
	maxPropertyID                       = 0x2A
)

// propKind is a property's data type [1.5].
type propKind byte

const (
	kindByte   propKind = iota + 1 // Byte
	kindU16                        // Two Byte Integer
	kindU32                        // Four Byte Integer
	kindVarint                     // Variable Byte Integer
	kindString                     // UTF-8 Encoded String
	kindBinary                     // Binary Data
	kindPair                       // UTF-8 String Pair
)

// inWill marks properties allowed in a CONNECT's Will Properties; it uses
// bit 0 since no packet type is 0.
const inWill = 1 << 0

const (
	inConnect   = 1 << TypeConnect
	inPublish   = 1 << TypePublish
	inSubscribe = 1 << TypeSubscribe
	inUnsub     = 1 << TypeUnsubscribe
	inAcks      = inConnack | inPubAcks | inPubrel | inPubcomp | inSuback | inUnsuback | inDisconnect | inAuth
)

// propInfo is one row of the property table.
type propInfo struct {
	name    string
	kind    propKind
	packets uint16 // bits 1<<PacketType, plus inWill
	field   string // Wireshark field holding the value
	// bool01: the value must be 0 or 1; nonZero: 0 is a protocol error.
	bool01, nonZero bool
	clause          string // clause for the value check
}

// properties is the single table of which property may appear in which
// packet [2.2.2.2 Table 2-4], with its type and Wireshark value field.
var properties = [maxPropertyID + 1]propInfo{
	PropPayloadFormat:        {"Payload Format Indicator", kindByte, inPublish | inWill, "mqtt.prop_number", true, false, "3.3.2.3.2"},
	PropMessageExpiry:        {"Message Expiry Interval", kindU32, inPublish | inWill, "mqtt.prop_number", false, false, ""},
	PropContentType:          {"Content Type", kindString, inPublish | inWill, "mqtt.property.content_type", false, false, ""},
	PropResponseTopic:        {"Response Topic", kindString, inPublish | inWill, "mqtt.prop_string", false, false, ""},
	PropCorrelationData:      {"Correlation Data", kindBinary, inPublish | inWill, "mqtt.prop_string", false, false, ""},
	PropSubscriptionID:       {"Subscription Identifier", kindVarint, inPublish | inSubscribe, "mqtt.prop_number", false, true, "3.8.2.1.2"},
	PropSessionExpiry:        {"Session Expiry Interval", kindU32, inConnect | inConnack | inDisconnect, "mqtt.prop_number", false, false, ""},
	PropAssignedClientID:     {"Assigned Client Identifier", kindString, inConnack, "mqtt.prop_string", false, false, ""},
	PropServerKeepAlive:      {"Server Keep Alive", kindU16, inConnack, "mqtt.prop_number", false, false, ""},
	PropAuthMethod:           {"Authentication Method", kindString, inConnect | inConnack | inAuth, "mqtt.prop_string", false, false, ""},
	PropAuthData:             {"Authentication Data", kindBinary, inConnect | inConnack | inAuth, "mqtt.prop_string", false, false, ""},
	PropRequestProblemInfo:   {"Request Problem Information", kindByte, inConnect, "mqtt.prop_number", true, false, "3.1.2.11.7"},
	PropWillDelay:            {"Will Delay Interval", kindU32, inWill, "mqtt.prop_number", false, false, ""},
	PropRequestResponseInfo:  {"Request Response Information", kindByte, inConnect, "mqtt.prop_number", true, false, "3.1.2.11.6"},
	PropResponseInfo:         {"Response Information", kindString, inConnack, "mqtt.prop_string", false, false, ""},
	PropServerReference:      {"Server Reference", kindString, inConnack | inDisconnect, "mqtt.prop_string", false, false, ""},
	PropReasonString:         {"Reason String", kindString, inAcks, "mqtt.prop_string", false, false, ""},
	PropReceiveMaximum:       {"Receive Maximum", kindU16, inConnect | inConnack, "mqtt.prop_number", false, true, "3.1.2.11.3"},
	PropTopicAliasMaximum:    {"Topic Alias Maximum", kindU16, inConnect | inConnack, "mqtt.prop_number", false, false, ""},
	PropTopicAlias:           {"Topic Alias", kindU16, inPublish, "mqtt.property.topic_alias", false, true, "MQTT-3.3.2-8"},
	PropMaximumQoS:           {"Maximum QoS", kindByte, inConnack, "mqtt.property.max_qos", true, false, "3.2.2.3.4"},
	PropRetainAvailable:      {"Retain Available", kindByte, inConnack, "mqtt.prop_number", true, false, "3.2.2.3.5"},
	PropUser:                 {"User Property", kindPair, inConnect | inPublish | inSubscribe | inUnsub | inAcks | inWill, "mqtt.prop_key", false, false, ""},
	PropMaximumPacketSize:    {"Maximum Packet Size", kindU32, inConnect | inConnack, "mqtt.prop_number", false, true, "3.1.2.11.4"},
	PropWildcardSubAvailable: {"Wildcard Subscription Available", kindByte, inConnack, "mqtt.prop_number", true, false, "3.2.2.3.11"},
	PropSubIDAvailable:       {"Subscription Identifier Available", kindByte, inConnack, "mqtt.prop_number", true, false, "3.2.2.3.12"},
	PropSharedSubAvailable:   {"Shared Subscription Available", kindByte, inConnack, "mqtt.prop_number", true, false, "3.2.2.3.13"},
}

func (id PropertyID) info() *propInfo {
	if id > maxPropertyID || properties[id].kind == 0 {
		return nil
	}
	return &properties[id]
}

// String returns the property's name, e.g. "Topic Alias".
func (id PropertyID) String() string {
	if pi := id.info(); pi != nil {
		return pi.name
	}
	return "Unknown property 0x" + hex2(byte(id))
}

// ValidIn reports whether the property may appear in packets of type t
// (t == 0 stands for a CONNECT's Will Properties).
func (id PropertyID) ValidIn(t PacketType) bool {
	pi := id.info()
	return pi != nil && pi.packets&(1<<t) != 0
}

// UserProperty is one User Property name/value pair.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5.0 properties of a packet.
//
// Presence is explicit: a scalar, string or binary property is encoded, and
// was decoded, exactly when its bit is set in Present (use Has and Set).
// User properties and Subscription Identifiers are present when their
// slices are non-empty. Decoding reuses the slices' capacity, and strings
// and byte slices are views into the decoded packet (see the package doc).
type Properties struct {
	Present uint64 // bit 1<<id for each property present

	PayloadFormat           byte
	MessageExpiry           uint32
	ContentType             string
	ResponseTopic           string
	CorrelationData         []byte
	SubscriptionIdentifiers []int
	SessionExpiry           uint32
	AssignedClientID        string
	ServerKeepAlive         uint16
	AuthMethod              string
	AuthData                []byte
	RequestProblemInfo      byte
	WillDelay               uint32
	RequestResponseInfo     byte
	ResponseInfo            string
	ServerReference         string
	ReasonString            string
	ReceiveMaximum          uint16
	TopicAliasMaximum       uint16
	TopicAlias              uint16
	MaximumQoS              byte
	RetainAvailable         byte
	User                    []UserProperty
	MaximumPacketSize       uint32
	WildcardSubAvailable    byte
	SubIDAvailable          byte
	SharedSubAvailable      byte

	// order lists the properties in the order they were decoded, one entry
	// per occurrence (a User Property or Subscription Identifier as often
	// as it came), so a decoded packet re-encodes to the same bytes. It is
	// not exported: a Properties built by hand, or one whose properties
	// were changed, encodes what order does not name in identifier order
	// after the rest (see appendProps).
	order []PropertyID
	// tail is how much of its optional end an MQTT 5.0 PUBACK, PUBREC,
	// PUBREL, PUBCOMP, DISCONNECT or AUTH was decoded with (tailNone,
	// tailCode, tailLen; 0 when not decoded), so that a Reason Code 0 or
	// a Property Length 0 spelled out on the wire is spelled out again.
	tail uint8
}

// The optional ends of acks, DISCONNECT and AUTH (Properties.tail).
const (
	tailNone uint8 = 1 + iota // nothing after the packet id (or the fixed header)
	tailCode                  // the Reason Code alone
	tailLen                   // the Reason Code and a Property Length
)

// Has reports whether property id is present.
func (p *Properties) Has(id PropertyID) bool {
	switch id {
	case PropUser:
		return len(p.User) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIdentifiers) > 0
	}
	return p.Present&(1<<id) != 0
}

// Set marks property id as present, so that it is encoded. It returns p so
// calls can be chained.
func (p *Properties) Set(id PropertyID) *Properties {
	p.Present |= 1 << id
	return p
}

// Clear marks property id as absent.
func (p *Properties) Clear(id PropertyID) { p.Present &^= 1 << id }

// reset empties p, keeping the slices' memory for reuse.
func (p *Properties) reset() {
	u, s, o := p.User[:0], p.SubscriptionIdentifiers[:0], p.order[:0]
	*p = Properties{User: u, SubscriptionIdentifiers: s, order: o}
}

func (p *Properties) empty() bool {
	return p.Present == 0 && len(p.User) == 0 && len(p.SubscriptionIdentifiers) == 0
}

// ref returns a pointer to the field holding property id: *byte, *uint16,
// *uint32, *string or *[]byte. It is the only place that maps identifiers
// to fields; User and Subscription Identifier are handled by the callers.
func (p *Properties) ref(id PropertyID) any {
	switch id {
	case PropPayloadFormat:
		return &p.PayloadFormat
	case PropMessageExpiry:
		return &p.MessageExpiry
	case PropContentType:
		return &p.ContentType
	case PropResponseTopic:
		return &p.ResponseTopic
	case PropCorrelationData:
		return &p.CorrelationData
	case PropSessionExpiry:
		return &p.SessionExpiry
	case PropAssignedClientID:
		return &p.AssignedClientID
	case PropServerKeepAlive:
		return &p.ServerKeepAlive
	case PropAuthMethod:
		return &p.AuthMethod
	case PropAuthData:
		return &p.AuthData
	case PropRequestProblemInfo:
		return &p.RequestProblemInfo
	case PropWillDelay:
		return &p.WillDelay
	case PropRequestResponseInfo:
		return &p.RequestResponseInfo
	case PropResponseInfo:
		return &p.ResponseInfo
	case PropServerReference:
		return &p.ServerReference
	case PropReasonString:
		return &p.ReasonString
	case PropReceiveMaximum:
		return &p.ReceiveMaximum
	case PropTopicAliasMaximum:
		return &p.TopicAliasMaximum
	case PropTopicAlias:
		return &p.TopicAlias
	case PropMaximumQoS:
		return &p.MaximumQoS
	case PropRetainAvailable:
		return &p.RetainAvailable
	case PropMaximumPacketSize:
		return &p.MaximumPacketSize
	case PropWildcardSubAvailable:
		return &p.WildcardSubAvailable
	case PropSubIDAvailable:
		return &p.SubIDAvailable
	case PropSharedSubAvailable:
		return &p.SharedSubAvailable
	}
	return nil
}

// readProps reads a property block [2.2.2] into p. where is the packet type
// whose table column applies (0 for Will Properties).
func (c *cursor) readProps(p *Properties, where PacketType) error {
	group := "mqtt.properties"
	label := "Properties"
	if where == 0 {
		group, label = "mqtt.will_properties", "Will Properties"
	}
	start := c.off
	if c.rec != nil {
		c.rec.open(group, "", label, start, 0)
		defer c.rec.close(-1)
	}
	n, err := c.varint("mqtt.property_len", "Total Length")
	if err != nil {
		return err
	}
	if c.end-c.off < n {
		return c.failAt(start, "mqtt.property_len", "MQTT-2.2.2", ErrShort)
	}
	if c.rec != nil {
		// Wireshark's group spans the length and the properties.
		c.rec.setLen(c.off + n - start)
	}
	end := c.end
	c.end = c.off + n
	p.order = p.order[:0]
	var seen uint64
	for c.off < c.end {
		if err := c.readProp(p, where, &seen); err != nil {
			c.end = end
			return err
		}
	}
	c.end = end
	return nil
}

func (c *cursor) readProp(p *Properties, where PacketType, seen *uint64) error {
	at := c.off
	// The identifier is a Variable Byte Integer [2.2.2.2]; all defined ones
	// fit in one byte.
	raw, w, err := readVarint(c.b[:c.end], c.off)
	if err != nil {
		return c.fail("mqtt.property_id", "MQTT-2.2.2", ErrBadProperty)
	}
	id := PropertyID(raw)
	pi := id.info()
	if raw > maxPropertyID || pi == nil {
		if c.rec != nil {
			c.rec.add(Field{Name: "mqtt.property_id", Value: "0x" + strconv.FormatInt(int64(raw), 16), Label: "Unknown Property", Offset: at, Length: w})
		}
		return c.fail("mqtt.property_id", "2.2.2.2", ErrBadProperty)
	}
	if c.rec != nil {
		c.rec.open("mqtt.property_id", hex8(byte(id)), "Property: "+pi.name+" ("+hex8(byte(id))+")", at, 0)
		defer c.rec.close(-1)
		defer func() { c.rec.setLen(c.off - at) }()
	}
	c.off += w
	if pi.packets&(1<<where) == 0 {
		return c.failAt(at, "mqtt.property_id", "2.2.2.2", ErrBadProperty) // not valid in this packet: malformed
	}
	bit := uint64(1) << id
	if *seen&bit != 0 && id != PropUser && !(id == PropSubscriptionID && where == TypePublish) {
		return c.failAt(at, "mqtt.property_id", "2.2.2.2", ErrDuplicateProp) // "It is a Protocol Error to include ... more than once"
	}
	*seen |= bit
	p.order = append(p.order, id)
	valAt := c.off
	switch pi.kind {
	case kindPair:
		k, err := c.str("mqtt.prop_key_len", "mqtt.prop_key", "Key")
		if err != nil {
			return err
		}
		v, err := c.str("mqtt.prop_value_len", "mqtt.prop_value", "Value")
		if err != nil {
			return err
		}
		p.User = append(p.User, UserProperty{k, v})
		return nil
	case kindVarint:
		v, err := c.varint(pi.field, pi.name)
		if err != nil {
			return err
		}
		if v == 0 {
			return c.failAt(valAt, pi.field, pi.clause, ErrInvalidValue)
		}
		p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, v)
		return nil
	}
	p.Present |= bit
	var num uint32
	switch r := p.ref(id).(type) {
	case *byte:
		v, err := c.u8(pi.field, pi.name)
		if err != nil {
			return err
		}
		*r, num = v, uint32(v)
	case *uint16:
		v, err := c.u16(pi.field, pi.name)
		if err != nil {
			return err
		}
		*r, num = v, uint32(v)
	case *uint32:
		v, err := c.u32(pi.field, pi.name)
		if err != nil {
			return err
		}
		*r, num = v, v
	case *string:
		var err error
		if pi.field == "mqtt.property.content_type" {
			// Wireshark shows Content Type as one length-prefixed string.
			*r, err = c.str("", "", pi.name)
			if err == nil && c.rec != nil {
				c.rec.text(pi.field, pi.name, valAt, c.off-valAt, *r)
			}
		} else {
			*r, err = c.str("mqtt.prop_string_len", pi.field, pi.name)
		}
		return err
	case *[]byte:
		var err error
		*r, err = c.bin("mqtt.prop_string_len", pi.field, pi.name, true)
		return err
	}
	if pi.bool01 && num > 1 {
		// A value other than 0 or 1 is a Protocol Error.
		return c.failAt(valAt, pi.field, pi.clause, &kindError{pi.name + " must be 0 or 1", ErrProtocol})
	}
	if pi.nonZero && num == 0 {
		return c.failAt(valAt, pi.field, pi.clause, &kindError{pi.name + " must not be 0", ErrProtocol})
	}
	return nil
}

// propsLen returns the encoded length of p's properties (without the
// Property Length varint).
func (p *Properties) propsLen() int {
	if p.empty() {
		return 0
	}
	n := 0
	for _, u := range p.User {
		n += 1 + 4 + len(u.Key) + len(u.Value)
	}
	for _, s := range p.SubscriptionIdentifiers {
		n += 1 + varintLen(s)
	}
	for m := p.Present &^ (1<<PropUser | 1<<PropSubscriptionID); m != 0; m &= m - 1 {
		id := PropertyID(bits.TrailingZeros64(m))
		n++
		switch r := p.ref(id).(type) {
		case *byte:
			n++
		case *uint16:
			n += 2
		case *uint32:
			n += 4
		case *string:
			n += 2 + len(*r)
		case *[]byte:
			n += 2 + len(*r)
		}
	}
	return n
}

// appendProps appends the property block (length and properties) for a
// packet of type where; it reports properties not allowed there.
func (p *Properties) appendProps(dst []byte, where PacketType) ([]byte, error) {
	n := p.propsLen()
	if n > maxVarint {
		return dst, newErr(where, "mqtt.properties", 0, "2.2.2", ErrFieldTooLong)
	}
	dst = appendVarint(dst, n)
	if n == 0 {
		return dst, nil
	}
	if len(p.SubscriptionIdentifiers) > 0 &&
		(!PropSubscriptionID.ValidIn(where) || (where == TypeSubscribe && len(p.SubscriptionIdentifiers) > 1)) {
		return dst, newErr(where, "mqtt.property_id", 0, "2.2.2.2", ErrBadProperty)
	}
	if len(p.User) > 0 && !PropUser.ValidIn(where) {
		return dst, newErr(where, "mqtt.property_id", 0, "2.2.2.2", ErrBadProperty)
	}
	// First the properties in the order they were decoded, then what is
	// left in identifier order, Subscription Identifiers, User Properties.
	var done uint64
	ui, si := 0, 0
	var err error
	for _, id := range p.order {
		switch {
		case id == PropUser:
			if ui < len(p.User) {
				if dst, err = appendUser(dst, where, p.User[ui]); err != nil {
					return dst, err
				}
				ui++
			}
		case id == PropSubscriptionID:
			if si < len(p.SubscriptionIdentifiers) {
				if dst, err = appendSubID(dst, where, p.SubscriptionIdentifiers[si]); err != nil {
					return dst, err
				}
				si++
			}
		case p.Present&(1<<id) != 0 && done&(1<<id) == 0:
			done |= 1 << id
			if dst, err = p.appendProp(dst, where, id); err != nil {
				return dst, err
			}
		}
	}
	for m := p.Present &^ (1<<PropUser | 1<<PropSubscriptionID) &^ done; m != 0; m &= m - 1 {
		if dst, err = p.appendProp(dst, where, PropertyID(bits.TrailingZeros64(m))); err != nil {
			return dst, err
		}
	}
	for ; si < len(p.SubscriptionIdentifiers); si++ {
		if dst, err = appendSubID(dst, where, p.SubscriptionIdentifiers[si]); err != nil {
			return dst, err
		}
	}
	for ; ui < len(p.User); ui++ {
		if dst, err = appendUser(dst, where, p.User[ui]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendProp appends one scalar, string or binary property.
func (p *Properties) appendProp(dst []byte, where PacketType, id PropertyID) ([]byte, error) {
	if !id.ValidIn(where) {
		return dst, newErr(where, "mqtt.property_id", 0, "2.2.2.2", ErrBadProperty)
	}
	dst = append(dst, byte(id))
	switch r := p.ref(id).(type) {
	case *byte:
		dst = append(dst, *r)
	case *uint16:
		dst = appendU16(dst, *r)
	case *uint32:
		dst = appendU32(dst, *r)
	case *string:
		if len(*r) > 65535 {
			return dst, newErr(where, properties[id].field, 0, "1.5.4", ErrFieldTooLong)
		}
		dst = appendString(dst, *r)
	case *[]byte:
		if len(*r) > 65535 {
			return dst, newErr(where, properties[id].field, 0, "1.5.6", ErrFieldTooLong)
		}
		dst = appendBinary(dst, *r)
	}
	return dst, nil
}

func appendSubID(dst []byte, where PacketType, s int) ([]byte, error) {
	if s <= 0 || s > maxVarint {
		return dst, newErr(where, "mqtt.prop_number", 0, "3.8.2.1.2", ErrInvalidValue)
	}
	return appendVarint(append(dst, byte(PropSubscriptionID)), s), nil
}

func appendUser(dst []byte, where PacketType, u UserProperty) ([]byte, error) {
	if len(u.Key) > 65535 || len(u.Value) > 65535 {
		return dst, newErr(where, "mqtt.prop_key", 0, "1.5.7", ErrFieldTooLong)
	}
	return appendString(appendString(append(dst, byte(PropUser)), u.Key), u.Value), nil
}
