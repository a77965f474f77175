package codec

// Summary returns a one-line description of p for a diagram arrow, e.g.
// "PUBLISH id=3 qos=1 sensors/t1 (64 B)".
func Summary(p Packet) string {
	if p == nil {
		return ""
	}
	s := p.Type().String()
	switch p := p.(type) {
	case *Connect:
		s += " v" + p.Version.String() + " id=" + quote(p.ClientID) + " keepalive=" + itoa(int(p.KeepAlive))
		if p.CleanStart {
			s += " clean"
		}
		if p.UsernameFlag {
			s += " user=" + quote(p.Username)
		}
		if p.WillFlag {
			s += " will=" + p.WillTopic
		}
	case *Connack:
		// 3.1.1 return codes are 1-5, MQTT 5.0 reason codes 0 or >= 0x80.
		v := V5
		if p.ReasonCode > 0 && p.ReasonCode < 0x80 {
			v = V311
		}
		s += " " + p.ReasonCode.Name(TypeConnack, v)
		if p.SessionPresent {
			s += " session-present"
		}
	case *Publish:
		if p.QoS > 0 {
			s += " id=" + itoa(int(p.PacketID))
		}
		s += " qos=" + itoa(int(p.QoS))
		if p.Dup {
			s += " dup"
		}
		if p.Retain {
			s += " retain"
		}
		t := p.Topic
		if t == "" && p.Properties.Has(PropTopicAlias) {
			t = "alias:" + itoa(int(p.Properties.TopicAlias))
		}
		s += " " + t + " (" + itoa(len(p.Payload)) + " B)"
	case *Puback:
		s += ackSummary(p.PacketID, p.ReasonCode, TypePuback)
	case *Pubrec:
		s += ackSummary(p.PacketID, p.ReasonCode, TypePubrec)
	case *Pubrel:
		s += ackSummary(p.PacketID, p.ReasonCode, TypePubrel)
	case *Pubcomp:
		s += ackSummary(p.PacketID, p.ReasonCode, TypePubcomp)
	case *Subscribe:
		s += " id=" + itoa(int(p.PacketID))
		for _, sub := range p.Subscriptions {
			s += " " + sub.Filter + ":" + itoa(int(sub.QoS))
		}
	case *Suback:
		s += " id=" + itoa(int(p.PacketID)) + codesSummary(p.ReasonCodes)
	case *Unsubscribe:
		s += " id=" + itoa(int(p.PacketID))
		for _, f := range p.Filters {
			s += " " + f
		}
	case *Unsuback:
		s += " id=" + itoa(int(p.PacketID)) + codesSummary(p.ReasonCodes)
	case *Disconnect:
		if p.ReasonCode != 0 {
			s += " " + p.ReasonCode.Name(TypeDisconnect, V5)
		}
	case *Auth:
		s += " " + p.ReasonCode.Name(TypeAuth, V5)
	}
	return s
}

func ackSummary(id uint16, rc ReasonCode, t PacketType) string {
	s := " id=" + itoa(int(id))
	if rc != 0 {
		s += " " + rc.Name(t, V5)
	}
	return s
}

func codesSummary(codes []ReasonCode) string {
	s := " ["
	for i, r := range codes {
		if i > 0 {
			s += ","
		}
		s += "0x" + hex2(byte(r))
	}
	return s + "]"
}

func quote(s string) string { return "\"" + s + "\"" }
