// Package options is the written-down JavaScript API of window.lifeline:
// the options object of each method, declared as a Go struct whose `js`
// tags are the JavaScript property names. The browser client reads an
// options object into its struct in one walk that checks each property as
// it sets its field and names the field of any wrong type (see
// wasm/jsx_js.go, func assign); the methods here turn the struct into what the client needs
// and name the field of any wrong value. Both kinds of error read, at the
// caller, as `connect: options.keepAlive: want a number, got string`.
//
// The package has no build tag, so `go doc ./wasm/options` shows the API and
// its checks are tested natively; it is also compiled into the WebAssembly
// client, so it stays out of fmt and reflect.
//
// How a field is read from JavaScript, by its Go type:
//
//   - string: a string.
//   - bool: true or false (no truthy numbers or strings).
//   - uint8, uint16, uint32, int: a number that is an integer within the
//     type's range (the type is the range: keepAlive is a uint16, so 70000
//     is refused).
//   - []byte: a string (its UTF-8 bytes) or a Uint8Array.
//   - []T: an array of T; a struct (or a pointer to one): an object.
//   - A pointer: the field may be left out, and nil says it was; other
//     fields left out (undefined or null) keep their zero value.
//
// A property an options object has but its struct does not declare is an
// error too (`options.keepalive: not an option of connect; did you mean
// keepAlive?`), so a misspelt option is never silently ignored.
//
// Adding a method's options (the lab controls of window.lifeline.lab, say):
// declare its struct here with a `js` tag on every field, using only the
// types above; give it a method that checks values and returns what the
// client needs, with a table test in options_test.go; in the wasm, read it
// with `var o options.X; err := assign("lab.x", arg(args, 0), &o)`, and add
// its good, missing and wrong-typed cases to wasm/options_js_test.go.
package options

import (
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
)

// Error is a wrong option: Field is its path from the options object
// ("options.will.qos"), Problem says what is wrong in words.
type Error struct {
	Field   string
	Problem string
}

func (e *Error) Error() string { return e.Field + ": " + e.Problem }

func wrong(field, problem string) error { return &Error{Field: field, Problem: problem} }

// Connect is lifeline.connect(options): a client's connection, through
// the proxy (broker, tls) or straight to a broker's WebSocket listener (url).
type Connect struct {
	// Client names which of the page's clients connects: each has its own
	// lifeline in the diagram. Default "browser"; see ClientName.
	Client string `js:"client"`
	// URL, when given, is a broker's own WebSocket listener (ws:// or
	// wss://), reached without the proxy; broker and tls are then unused.
	URL string `js:"url"`
	// Broker is the host:port the proxy dials; default the server's
	// (broker.lifeline.test:1883, or what lifeline serve was told).
	Broker string `js:"broker"`
	// TLS asks the proxy to speak TLS to the broker.
	TLS bool `js:"tls"`

	// Version is the MQTT protocol level: 4 (3.1.1, the default) or 5 (5.0).
	Version *int `js:"version"`
	// ClientID is the MQTT client identifier; generated when empty.
	ClientID string `js:"clientId"`
	// Username is sent when non-empty.
	Username string `js:"username"`
	// Password is sent when given, even empty.
	Password []byte `js:"password"`
	// KeepAlive in seconds, 0 to turn it off; default 30.
	KeepAlive *uint16 `js:"keepAlive"`
	// CleanStart is Clean Session (3.1.1) or Clean Start (5.0); default true.
	CleanStart *bool `js:"cleanStart"`
	// Reconnect after a lost or refused connection, with backoff.
	Reconnect bool `js:"reconnect"`
	// TopicAliases sends every PUBLISH with an MQTT 5.0 Topic Alias when
	// the broker allows them (Topic Alias Maximum in CONNACK).
	TopicAliases bool `js:"topicAliases"`
	// PingTimeout is how long, in whole seconds, an unanswered PINGREQ
	// waits before the connection is declared dead; default keepAlive/2,
	// at least 1 s.
	PingTimeout uint16 `js:"pingTimeout"`
	// SessionExpiry is short for properties.sessionExpiryInterval (5.0 only).
	SessionExpiry *uint32 `js:"sessionExpiry"`
	// Will is the message the broker publishes if the client vanishes.
	Will *Will `js:"will"`
	// Properties are CONNECT's MQTT 5.0 properties.
	Properties *Properties `js:"properties"`
}

// Will is connect's options.will.
type Will struct {
	Topic      string      `js:"topic"`   // required
	Payload    []byte      `js:"payload"` // a string or a Uint8Array
	QoS        uint8       `js:"qos"`     // 0, 1 or 2
	Retain     bool        `js:"retain"`
	Properties *Properties `js:"properties"` // will properties (5.0): willDelayInterval, contentType …
}

// Properties are MQTT 5.0 properties by their specification names in
// camelCase. Each is sent when given; the broker refuses those its packet
// may not carry.
type Properties struct {
	SessionExpiryInterval      *uint32 `js:"sessionExpiryInterval"`
	ReceiveMaximum             *uint16 `js:"receiveMaximum"`
	MaximumPacketSize          *uint32 `js:"maximumPacketSize"`
	TopicAliasMaximum          *uint16 `js:"topicAliasMaximum"`
	RequestResponseInformation *bool   `js:"requestResponseInformation"`
	RequestProblemInformation  *bool   `js:"requestProblemInformation"`
	WillDelayInterval          *uint32 `js:"willDelayInterval"`
	PayloadFormatIndicator     *uint8  `js:"payloadFormatIndicator"` // 0 bytes, 1 UTF-8
	MessageExpiryInterval      *uint32 `js:"messageExpiryInterval"`
	ContentType                *string `js:"contentType"`
	ResponseTopic              *string `js:"responseTopic"`
	ReasonString               *string `js:"reasonString"`
	CorrelationData            []byte  `js:"correlationData"` // a string or a Uint8Array
	SubscriptionIdentifier     *int    `js:"subscriptionIdentifier"`
	// UserProperties are [key, value] pairs, in order; a key may repeat.
	UserProperties [][]string `js:"userProperties"`
}

// Subscribe is lifeline.subscribe(filter, options); filter is a topic
// filter or an array of them, all with these options.
type Subscribe struct {
	Client            string      `js:"client"`
	QoS               uint8       `js:"qos"` // the maximum QoS asked for: 0, 1 or 2
	NoLocal           bool        `js:"noLocal"`
	RetainAsPublished bool        `js:"retainAsPublished"`
	RetainHandling    uint8       `js:"retainHandling"` // 0, 1 or 2
	Properties        *Properties `js:"properties"`     // subscriptionIdentifier, userProperties
}

// Unsubscribe is lifeline.unsubscribe(filter, options).
type Unsubscribe struct {
	Client     string      `js:"client"`
	Properties *Properties `js:"properties"`
}

// Publish is lifeline.publish(topic, payload, options); the payload is a
// string, a Uint8Array or an ArrayBuffer.
type Publish struct {
	Client     string      `js:"client"`
	QoS        uint8       `js:"qos"` // 0, 1 or 2
	Retain     bool        `js:"retain"`
	Properties *Properties `js:"properties"`
	// TopicAlias asks to send this message with an MQTT 5.0 Topic Alias
	// when the broker allows them (the first such message sets it).
	TopicAlias bool `js:"topicAlias"`
}

// Disconnect is lifeline.disconnect(options).
type Disconnect struct {
	Client     string      `js:"client"`
	ReasonCode uint8       `js:"reasonCode"` // 5.0: 0 normal, 4 with the will …
	Properties *Properties `js:"properties"`
}

// Cut is lifeline.cut(options): the proxy resets the client's broker
// connection with no DISCONNECT, so the broker publishes its will.
type Cut struct {
	Client string `js:"client"`
}

// Lab is the options of window.lifeline.lab's methods (hold, pause, step,
// release, resume, drop, delay, silence, state): what the proxy's lab bench
// does to the named client's packets (proxy/doc.go, "The lab bench").
type Lab struct {
	Client string `js:"client"`
	// Dir is "toBroker", "toPage", or empty for both ways.
	Dir string `js:"dir"`
	// Types are MQTT packet type names ("PUBACK"), "*" for all.
	Types []string `js:"types"`
	// Topic is a topic filter selecting PUBLISH packets.
	Topic string `js:"topic"`
	// Count is how many packets drop swallows (0: one).
	Count int `js:"count"`
	// Ms is delay's extra latency in milliseconds (0 to 5000; the proxy checks).
	Ms *int `js:"ms"`
}

// ClientName checks options.client, which names one of the page's clients
// (one lifeline each): "browser" when empty, else 1 to 32 letters, digits or
// '-', and none of the other parties' names.
func ClientName(name string) (string, error) {
	switch name {
	case "":
		return "browser", nil
	case "proxy", "dns", "broker":
		return "", wrong("options.client", "names one of the page's clients, not the "+name)
	}
	if len(name) > 32 {
		return "", wrong("options.client", "1 to 32 letters, digits or -, not "+strconv.Itoa(len(name))+" characters")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", wrong("options.client", "letters, digits and - only, not "+strconv.Quote(name))
		}
	}
	return name, nil
}

// Config checks the connect options and returns the client's
// configuration.
func (o *Connect) Config() (client.Config, error) {
	cfg := client.Config{
		Version:      codec.V311,
		ClientID:     o.ClientID,
		Username:     o.Username,
		Password:     o.Password,
		KeepAlive:    30,
		CleanStart:   true,
		Reconnect:    o.Reconnect,
		TopicAliases: o.TopicAliases,
	}
	cfg.PingTimeout = time.Duration(o.PingTimeout) * time.Second
	if o.Version != nil {
		if v := *o.Version; v != 4 && v != 5 {
			return cfg, wrong("options.version", "want 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got "+strconv.Itoa(v))
		}
		cfg.Version = codec.Version(*o.Version)
	}
	if o.KeepAlive != nil {
		cfg.KeepAlive = *o.KeepAlive
	}
	if o.CleanStart != nil {
		cfg.CleanStart = *o.CleanStart
	}
	var err error
	if cfg.Properties, err = o.Properties.toCodec("options.properties"); err != nil {
		return cfg, err
	}
	if o.SessionExpiry != nil {
		if cfg.Version != codec.V5 {
			return cfg, wrong("options.sessionExpiry", "MQTT 5.0 only (version: 5); in 3.1.1 a session ends when cleanStart is true")
		}
		cfg.Properties.SessionExpiry = *o.SessionExpiry
		cfg.Properties.Set(codec.PropSessionExpiry)
	}
	if w := o.Will; w != nil {
		if w.Topic == "" {
			return cfg, wrong("options.will.topic", "a will needs a topic")
		}
		if err := qos("options.will.qos", w.QoS); err != nil {
			return cfg, err
		}
		p, err := w.Properties.toCodec("options.will.properties")
		if err != nil {
			return cfg, err
		}
		cfg.Will = &client.Message{Topic: w.Topic, Payload: w.Payload, QoS: codec.QoS(w.QoS), Retain: w.Retain, Properties: p}
	}
	return cfg, nil
}

// Direct reports whether the connection goes straight to a broker's
// WebSocket listener (options.url) rather than through the proxy.
func (o *Connect) Direct() (bool, error) {
	if o.URL == "" {
		return false, nil
	}
	if !strings.HasPrefix(o.URL, "ws://") && !strings.HasPrefix(o.URL, "wss://") {
		return false, wrong("options.url", "a broker's WebSocket URL starts with ws:// or wss://, e.g. ws://127.0.0.1:9001/mqtt")
	}
	return true, nil
}

// Subscriptions checks the subscribe options and returns one subscription
// per filter, and the SUBSCRIBE's properties.
func (o *Subscribe) Subscriptions(filters []string) ([]codec.Subscription, codec.Properties, error) {
	if err := qos("options.qos", o.QoS); err != nil {
		return nil, codec.Properties{}, err
	}
	if o.RetainHandling > 2 {
		return nil, codec.Properties{}, wrong("options.retainHandling", "want 0 (send retained), 1 (only if new) or 2 (do not send), got "+strconv.Itoa(int(o.RetainHandling)))
	}
	props, err := o.Properties.toCodec("options.properties")
	if err != nil {
		return nil, props, err
	}
	subs := make([]codec.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = codec.Subscription{Filter: f, QoS: codec.QoS(o.QoS), NoLocal: o.NoLocal,
			RetainAsPublished: o.RetainAsPublished, RetainHandling: o.RetainHandling}
	}
	return subs, props, nil
}

// Props returns the UNSUBSCRIBE's properties.
func (o *Unsubscribe) Props() (codec.Properties, error) {
	return o.Properties.toCodec("options.properties")
}

// Message checks the publish options and returns the message to send.
func (o *Publish) Message(topic string, payload []byte) (client.Message, error) {
	m := client.Message{Topic: topic, Payload: payload, QoS: codec.QoS(o.QoS), Retain: o.Retain, TopicAlias: o.TopicAlias}
	if err := qos("options.qos", o.QoS); err != nil {
		return m, err
	}
	var err error
	m.Properties, err = o.Properties.toCodec("options.properties")
	return m, err
}

// Props returns the DISCONNECT's reason code and properties.
func (o *Disconnect) Props() (codec.ReasonCode, codec.Properties, error) {
	p, err := o.Properties.toCodec("options.properties")
	return codec.ReasonCode(o.ReasonCode), p, err
}

func qos(field string, q uint8) error {
	if q > 2 {
		return wrong(field, "want 0, 1 or 2, got "+strconv.Itoa(int(q)))
	}
	return nil
}

// toCodec returns the properties that were given; field is where p sits in
// the options, for errors. A nil p has none.
func (p *Properties) toCodec(field string) (codec.Properties, error) {
	var c codec.Properties
	if p == nil {
		return c, nil
	}
	u32 := func(v *uint32, id codec.PropertyID, dst *uint32) {
		if v != nil {
			*dst = *v
			c.Set(id)
		}
	}
	u16 := func(v *uint16, id codec.PropertyID, dst *uint16) {
		if v != nil {
			*dst = *v
			c.Set(id)
		}
	}
	flag := func(v *bool, id codec.PropertyID, dst *byte) {
		if v != nil {
			*dst = 0
			if *v {
				*dst = 1
			}
			c.Set(id)
		}
	}
	str := func(v *string, id codec.PropertyID, dst *string) {
		if v != nil {
			*dst = *v
			c.Set(id)
		}
	}
	u32(p.SessionExpiryInterval, codec.PropSessionExpiry, &c.SessionExpiry)
	u16(p.ReceiveMaximum, codec.PropReceiveMaximum, &c.ReceiveMaximum)
	u32(p.MaximumPacketSize, codec.PropMaximumPacketSize, &c.MaximumPacketSize)
	u16(p.TopicAliasMaximum, codec.PropTopicAliasMaximum, &c.TopicAliasMaximum)
	flag(p.RequestResponseInformation, codec.PropRequestResponseInfo, &c.RequestResponseInfo)
	flag(p.RequestProblemInformation, codec.PropRequestProblemInfo, &c.RequestProblemInfo)
	u32(p.WillDelayInterval, codec.PropWillDelay, &c.WillDelay)
	if v := p.PayloadFormatIndicator; v != nil {
		if *v > 1 {
			return c, wrong(field+".payloadFormatIndicator", "want 0 (bytes) or 1 (UTF-8), got "+strconv.Itoa(int(*v)))
		}
		c.PayloadFormat = *v
		c.Set(codec.PropPayloadFormat)
	}
	u32(p.MessageExpiryInterval, codec.PropMessageExpiry, &c.MessageExpiry)
	str(p.ContentType, codec.PropContentType, &c.ContentType)
	str(p.ResponseTopic, codec.PropResponseTopic, &c.ResponseTopic)
	str(p.ReasonString, codec.PropReasonString, &c.ReasonString)
	if p.CorrelationData != nil {
		c.CorrelationData = p.CorrelationData
		c.Set(codec.PropCorrelationData)
	}
	if v := p.SubscriptionIdentifier; v != nil {
		if *v < 1 || *v > 268435455 { // [3.8.2.1.2]: a Variable Byte Integer; 0 is a Protocol Error
			return c, wrong(field+".subscriptionIdentifier", "want 1 to 268435455, got "+strconv.Itoa(*v))
		}
		c.SubscriptionIdentifiers = []int{*v}
	}
	for i, kv := range p.UserProperties {
		if len(kv) != 2 {
			return c, wrong(field+".userProperties["+strconv.Itoa(i)+"]", "want a [key, value] pair, got "+strconv.Itoa(len(kv))+" strings")
		}
		c.User = append(c.User, codec.UserProperty{Key: kv[0], Value: kv[1]})
	}
	return c, nil
}
