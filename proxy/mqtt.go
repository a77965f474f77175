package proxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// This file is the proxy's only knowledge of MQTT: packet boundaries from
// the fixed header (codec.PacketLen), the CONNECT's protocol level, and the
// codec's one-line summary of a traced packet.

// typeName is the name of the packet type in the first byte of a packet.
func typeName(first byte) string { return codec.PacketType(first >> 4).String() }

// packetKinds holds the entry kind of each packet type (by the first byte's
// high four bits), made once rather than for every packet.
var packetKinds = func() (k [16]string) {
	for t := range k {
		k[t] = trace.KindMQTT(typeName(byte(t) << 4))
	}
	return k
}()

// summary is the one-line label of a packet's arrow, and the reason the codec
// could not decode it, if it could not. A PUBLISH is decoded into pub, if
// not nil, which is left zero.
func summary(pkt []byte, version int, pub *codec.Publish) (string, error) {
	var s string
	err := decodeWith(pkt, version, pub, func(p codec.Packet) { s = codec.Summary(p) })
	if err != nil {
		return typeName(pkt[0]) + " (" + strconv.Itoa(len(pkt)) + " bytes)", err
	}
	return s, nil
}

// decodeWith decodes pkt (a PUBLISH into pub, if not nil, left zero after)
// and calls f with the packet, if it decodes; f may be nil.
func decodeWith(pkt []byte, version int, pub *codec.Publish, f func(codec.Packet)) error {
	v := codec.V311
	if version == int(codec.V5) {
		v = codec.V5
	}
	var p codec.Packet
	var err error
	if pub != nil && codec.PacketType(pkt[0]>>4) == codec.TypePublish {
		err = pub.Decode(pkt, v)
		p = pub
		defer func() { *pub = codec.Publish{} }() // holds no packet's bytes
	} else {
		p, err = codec.Decode(pkt, v)
	}
	if err == nil && f != nil {
		f(p)
	}
	return err
}

// connectVersion returns the protocol level of a CONNECT packet (3, 4 or 5),
// or 0 if pkt is not a CONNECT that says one.
func connectVersion(pkt []byte) int {
	v, _ := codec.PeekLevel(pkt)
	return int(v)
}

// stream follows the MQTT packet boundaries of one direction of a
// connection as its bytes go by, whatever their chunking. It copies a packet
// only when asked to keep it (for the trace, or the first CONNECT); otherwise
// it holds no more than a fixed header.
type stream struct {
	max    int
	hdr    [5]byte
	nhdr   int
	left   int // body bytes still to come of the current packet
	inBody bool
	first  byte
	keep   bool
	// keepMax, if set, is the largest packet kept; larger ones are
	// followed but not copied.
	keepMax int
	pkt     []byte
	copying bool
	total   int
}

// feed walks p and calls done for every packet completed in it, with its
// bytes when they were kept (else nil) and the offset in p just past its last
// byte. The bytes are valid during the call.
func (s *stream) feed(p []byte, done func(first byte, n int, pkt []byte, end int)) error {
	size := len(p)
	for len(p) > 0 {
		if !s.inBody {
			s.hdr[s.nhdr] = p[0]
			s.nhdr++
			p = p[1:]
			n, err := codec.PacketLen(s.hdr[:s.nhdr], s.max)
			if err != nil {
				return err
			}
			if n == 0 {
				continue
			}
			s.first, s.total, s.left, s.inBody = s.hdr[0], n, n-s.nhdr, true
			s.copying = s.keep && (s.keepMax <= 0 || n <= s.keepMax)
			if s.copying {
				s.pkt = append(s.pkt[:0], s.hdr[:s.nhdr]...)
			}
			s.nhdr = 0
		} else {
			k := min(s.left, len(p))
			if s.copying {
				s.pkt = append(s.pkt, p[:k]...)
			}
			s.left -= k
			p = p[k:]
		}
		if s.inBody && s.left == 0 {
			s.inBody = false
			var pkt []byte
			if s.copying {
				pkt = s.pkt
			}
			done(s.first, s.total, pkt, size-len(p))
			if cap(s.pkt) > 64<<10 {
				s.pkt = nil // do not hold on to a big packet's memory
			}
		}
	}
	return nil
}

// partial reports whether the stream stopped inside a packet.
func (s *stream) partial() bool { return s.inBody || s.nhdr > 0 }

// publishTopic returns the topic name of a PUBLISH packet, read from its
// variable header [MQTT-3.3.2.1], or false when pkt is not one that says.
func publishTopic(pkt []byte) (string, bool) {
	if len(pkt) < 2 || pkt[0]>>4 != byte(codec.TypePublish) {
		return "", false
	}
	i := 1
	for i < len(pkt) && i < 5 && pkt[i]&0x80 != 0 {
		i++
	}
	i++ // past the last Remaining Length byte
	if i+2 > len(pkt) {
		return "", false
	}
	n := int(pkt[i])<<8 | int(pkt[i+1])
	if i+2+n > len(pkt) {
		return "", false
	}
	return string(pkt[i+2 : i+2+n]), true
}

// checkTopicFilter checks a topic filter's wildcards [MQTT-4.7.1-2],
// [MQTT-4.7.1-3].
func checkTopicFilter(f string) error {
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1, l != "#" && strings.Contains(l, "#"):
			return errors.New(`topic filter "` + f + `": # must be the whole last level [MQTT-4.7.1-2]`)
		case l != "+" && strings.Contains(l, "+"):
			return errors.New(`topic filter "` + f + `": + must be a whole level [MQTT-4.7.1-3]`)
		}
	}
	return nil
}

// topicMatch reports whether topic matches filter (+ one level, # the rest);
// topics starting with $ match no filter starting with a wildcard
// [MQTT-4.7.2-1].
func topicMatch(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fl, tl := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return true
		}
		if i >= len(tl) || (f != "+" && f != tl[i]) {
			return false
		}
	}
	return len(fl) == len(tl)
}
