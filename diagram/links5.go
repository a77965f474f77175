package diagram

import (
	"strings"

	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

// MQTT5 is what an arrow's MQTT 5.0 properties mean beyond the packet:
// the topic a Topic Alias stands for, the request a response answers (by
// Response Topic and Correlation Data), and the subscriptions a delivered
// PUBLISH matched (by Subscription Identifier).
type MQTT5 struct {
	Alias      int    `json:"alias,omitempty"`      // the Topic Alias carried
	AliasTopic string `json:"aliasTopic,omitempty"` // the topic it stands for ("" if never set)
	AliasSet   bool   `json:"aliasSet,omitempty"`   // this packet sets the alias
	// Response is the seq of the first PUBLISH answering this request
	// (same Correlation Data on its Response Topic), 0 until one comes.
	Response int `json:"response,omitempty"`
	// Request is the seq of the request this PUBLISH answers, Elapsed the
	// milliseconds since it.
	Request int      `json:"request,omitempty"`
	Elapsed float64  `json:"elapsed,omitempty"`
	Subs    []SubRef `json:"subs,omitempty"`
}

// SubRef is one subscription a delivered PUBLISH matched.
type SubRef struct {
	ID     int    `json:"id"`
	Filter string `json:"filter"` // "" when the SUBSCRIBE was not seen
}

// maxRequests bounds the requests waiting for their response; beyond it
// the oldest are forgotten.
const maxRequests = 4096

// links5 follows MQTT 5.0 properties across packets: aliases per sender
// on each leg and connection, subscription identifiers per subscriber,
// and requests waiting for their responses on any connection.
type links5 struct {
	versions map[connKey]codec.Version
	aliases  map[chanKey]map[uint16]string // by sender
	subs     map[chanKey]map[int]string    // by subscriber: id -> filters
	requests map[string]*item              // Response Topic + "\x00" + Correlation Data
	order    []string                      // requests, oldest first
	pub      codec.Publish                 // reused
	sub      codec.Subscribe               // reused
}

// add reads it's PUBLISH or SUBSCRIBE, if MQTT 5.0, and sets it.mqtt5.
func (l *links5) add(it *item) {
	e := &it.e
	k := connKey{e.Leg, e.Conn}
	switch e.Kind {
	case "mqtt.CONNECT":
		if v, err := codec.PeekVersion(e.Bytes); err == nil {
			if l.versions == nil {
				l.versions = map[connKey]codec.Version{}
			}
			l.versions[k] = v
		}
		return
	case "mqtt.PUBLISH", "mqtt.SUBSCRIBE":
	default:
		return
	}
	if codec.Version(e.Version) != codec.V5 && (e.Version != 0 || l.versions[k] != codec.V5) {
		return
	}
	if e.Kind == "mqtt.SUBSCRIBE" {
		l.subscribe(e)
		return
	}
	if l.pub.Decode(e.Bytes, codec.V5) != nil {
		return // the expert analysis reports it
	}
	p := &l.pub
	var m MQTT5
	topic := p.Topic
	if p.Properties.Has(codec.PropTopicAlias) {
		a := p.Properties.TopicAlias
		ck := chanKey{e.Leg, e.Conn, e.From}
		m.Alias = int(a)
		if topic != "" {
			if l.aliases == nil {
				l.aliases = map[chanKey]map[uint16]string{}
			}
			if l.aliases[ck] == nil {
				l.aliases[ck] = map[uint16]string{}
			}
			l.aliases[ck][a] = strings.Clone(topic)
			m.AliasTopic, m.AliasSet = l.aliases[ck][a], true
		} else {
			m.AliasTopic = l.aliases[ck][a]
			topic = m.AliasTopic
		}
	}
	if ids := p.Properties.SubscriptionIdentifiers; len(ids) > 0 {
		known := l.subs[chanKey{e.Leg, e.Conn, e.To}]
		for _, id := range ids {
			m.Subs = append(m.Subs, SubRef{ID: id, Filter: known[id]})
		}
	}
	if p.Properties.Has(codec.PropCorrelationData) {
		if req := l.requests[topic+"\x00"+string(p.Properties.CorrelationData)]; req != nil && req != it {
			m.Request, m.Elapsed = req.e.Seq, e.T-req.e.T
			if req.mqtt5 != nil && req.mqtt5.Response == 0 {
				req.mqtt5.Response = e.Seq
			}
		}
	}
	if p.Properties.Has(codec.PropResponseTopic) && p.Properties.Has(codec.PropCorrelationData) {
		key := p.Properties.ResponseTopic + "\x00" + string(p.Properties.CorrelationData)
		if l.requests == nil {
			l.requests = map[string]*item{}
		}
		if l.requests[key] == nil { // the first copy of the request, on any leg
			l.requests[key] = it
			l.order = append(l.order, key)
			if len(l.order) > maxRequests {
				delete(l.requests, l.order[0])
				l.order = l.order[1:]
			}
		}
		it.mqtt5 = &m // a response fills in Response
		return
	}
	if !isZero(&m) {
		it.mqtt5 = &m
	}
}

func isZero(m *MQTT5) bool {
	return m.Alias == 0 && m.Request == 0 && m.Response == 0 && len(m.Subs) == 0
}

// subscribe records the filters of a SUBSCRIBE with a Subscription
// Identifier, for the subscriber's deliveries.
func (l *links5) subscribe(e *trace.Entry) {
	if l.sub.Decode(e.Bytes, codec.V5) != nil || len(l.sub.Properties.SubscriptionIdentifiers) == 0 {
		return
	}
	var fs []string
	for _, s := range l.sub.Subscriptions {
		fs = append(fs, s.Filter)
	}
	ck := chanKey{e.Leg, e.Conn, e.From}
	if l.subs == nil {
		l.subs = map[chanKey]map[int]string{}
	}
	if l.subs[ck] == nil {
		l.subs[ck] = map[int]string{}
	}
	l.subs[ck][l.sub.Properties.SubscriptionIdentifiers[0]] = strings.Join(fs, " ")
}
