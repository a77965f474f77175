//go:build js && wasm

package main

import (
	"bytes"
	"reflect"
	"strings"
	"syscall/js"
	"testing"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/wasm/options"
)

// The options objects of window.lifeline, read by assign into package
// options' structs.

// jsValue makes a JavaScript value from JavaScript source.
func jsValue(src string) js.Value {
	return js.Global().Get("Function").New("return (" + src + ")").Invoke()
}

func ptr[T any](v T) *T { return &v }

func TestAssignConnect(t *testing.T) {
	var o options.Connect
	err := assign("connect", jsValue(`{
		client: "device", broker: "broker.example:8883", tls: true,
		version: 5, clientId: "dev", username: "u", password: "", keepAlive: 7, cleanStart: false, reconnect: true,
		sessionExpiry: 60,
		will: {topic: "w/t", payload: new TextEncoder().encode("bye"), qos: 1, retain: true, properties: {willDelayInterval: 5}},
		properties: {receiveMaximum: 10, requestProblemInformation: false, userProperties: [["a", "1"], ["b", "2"]]}
	}`), &o)
	if err != nil {
		t.Fatal(err)
	}
	want := options.Connect{Client: "device", Broker: "broker.example:8883", TLS: true,
		Version: ptr(5), ClientID: "dev", Username: "u", Password: []byte{}, KeepAlive: ptr[uint16](7), CleanStart: ptr(false), Reconnect: true,
		SessionExpiry: ptr[uint32](60),
		Will:          &options.Will{Topic: "w/t", Payload: []byte("bye"), QoS: 1, Retain: true, Properties: &options.Properties{WillDelayInterval: ptr[uint32](5)}},
		Properties:    &options.Properties{ReceiveMaximum: ptr[uint16](10), RequestProblemInformation: ptr(false), UserProperties: [][]string{{"a", "1"}, {"b", "2"}}}}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("got  %+v\nwant %+v", o, want)
	}
	// An empty password is a password: a non-nil empty slice.
	cfg, err := o.Config()
	if err != nil || cfg.Password == nil || len(cfg.Password) != 0 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
}

// Left out, or {}, the options are all defaults.
func TestAssignMissing(t *testing.T) {
	for _, v := range []js.Value{js.Undefined(), js.Null(), jsValue(`{}`), jsValue(`{will: undefined, properties: null}`)} {
		var o options.Connect
		if err := assign("connect", v, &o); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(o, options.Connect{}) {
			t.Fatalf("%s: %+v", typeName(v), o)
		}
	}
}

// A wrong type of each kind of field is refused with the method and the
// field named.
func TestAssignWrongTypes(t *testing.T) {
	for _, tt := range []struct {
		name, src, want string
	}{
		{"not an object", `"dev-1"`, "connect: options: want an object, got string"},
		{"an array", `[1]`, "connect: options: want an object, got array"},
		{"string given a number", `{clientId: 42}`, "connect: options.clientId: want a string, got number"},
		{"number given a string", `{keepAlive: "30"}`, "connect: options.keepAlive: want a number, got string"},
		{"uint16 out of range", `{keepAlive: 70000}`, "connect: options.keepAlive: want an integer from 0 to 65535, got 70000"},
		{"negative", `{keepAlive: -1}`, "connect: options.keepAlive: want an integer from 0 to 65535, got -1"},
		{"not an integer", `{version: 4.5}`, "connect: options.version: want an integer from -9007199254740991 to 9007199254740991, got 4.5"},
		{"NaN", `{keepAlive: NaN}`, "connect: options.keepAlive: want an integer from 0 to 65535, got NaN"},
		{"bool given a number", `{cleanStart: 0}`, "connect: options.cleanStart: want true or false, got number"},
		{"bool given a string", `{tls: "yes"}`, "connect: options.tls: want true or false, got string"},
		{"bytes given a number", `{password: 1234}`, "connect: options.password: want a string or a Uint8Array, got number"},
		{"bytes given an ArrayBuffer", `{password: new ArrayBuffer(2)}`, "connect: options.password: want a string or a Uint8Array, got ArrayBuffer"},
		{"struct given a string", `{will: "bye"}`, "connect: options.will: want an object, got string"},
		{"nested", `{will: {topic: "t", qos: "1"}}`, "connect: options.will.qos: want a number, got string"},
		{"nested twice", `{will: {topic: "t", properties: {willDelayInterval: true}}}`, "connect: options.will.properties.willDelayInterval: want a number, got boolean"},
		{"pairs given an object", `{properties: {userProperties: {a: "1"}}}`, "connect: options.properties.userProperties: want an array, got object"},
		{"a pair of a number", `{properties: {userProperties: [["a", 1]]}}`, "connect: options.properties.userProperties[0][1]: want a string, got number"},
		{"a misspelt option", `{keepalive: 30}`, "connect: options.keepalive: not an option of connect; did you mean keepAlive?"},
		{"an unknown option", `{colour: "red"}`, "connect: options.colour: not an option of connect (options has client, url, broker, tls, version,"},
		{"an unknown property", `{properties: {topicAlias: 3}}`, "connect: options.properties.topicAlias: not an option of connect (options.properties has sessionExpiryInterval,"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var o options.Connect
			err := assign("connect", jsValue(tt.src), &o)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("assign(%s) = %v, want %q", tt.src, err, tt.want)
			}
		})
	}
}

// Uint8Array data is copied; 0 and 1 are numbers, not booleans.
func TestAssignBytesAndNumbers(t *testing.T) {
	var o options.Publish
	if err := assign("publish", jsValue(`{qos: 2, retain: false, properties: {correlationData: new Uint8Array([0, 255, 7]), payloadFormatIndicator: 1, subscriptionIdentifier: 268435455}}`), &o); err != nil {
		t.Fatal(err)
	}
	p := o.Properties
	if o.QoS != 2 || !bytes.Equal(p.CorrelationData, []byte{0, 255, 7}) || *p.PayloadFormatIndicator != 1 || *p.SubscriptionIdentifier != 268435455 {
		t.Fatalf("%+v %+v", o, p)
	}
}

// settle waits for a promise and returns its value, or the message of its
// rejection.
func settle(t *testing.T, p js.Value) (js.Value, string) {
	t.Helper()
	type result struct {
		v   js.Value
		err string
	}
	done := make(chan result, 1)
	ok := js.FuncOf(func(_ js.Value, args []js.Value) any { done <- result{v: arg(args, 0)}; return nil })
	fail := js.FuncOf(func(_ js.Value, args []js.Value) any {
		done <- result{err: arg(args, 0).Get("message").String()}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	r := <-done
	return r.v, r.err
}

// Each method of window.lifeline reads its options: good ones get past
// them, left out ones are defaults, and a wrong one is a rejection that
// names the method and the field.
func TestMethodsReadTheirOptions(t *testing.T) {
	a, api := newTestApp(t)
	u8 := jsValue(`new Uint8Array([1, 2])`)
	for _, tt := range []struct {
		name   string
		method string
		args   []any
		want   string // the rejection starts with it; "" resolves
	}{
		{"subscribe, good", "subscribe", []any{"a/#", jsValue(`{client: "app", qos: 1, noLocal: true, retainHandling: 2, properties: {subscriptionIdentifier: 3}}`)}, "not connected: connect first (no client named app)"},
		{"subscribe, missing", "subscribe", []any{"a/#"}, "not connected: connect first (no client named browser)"},
		{"subscribe, wrong", "subscribe", []any{"a/#", jsValue(`{qos: "1"}`)}, "subscribe: options.qos: want a number, got string"},
		{"subscribe, bad value", "subscribe", []any{"a/#", jsValue(`{retainHandling: 3}`)}, "subscribe: options.retainHandling: want 0"},
		{"unsubscribe, good", "unsubscribe", []any{"a/#", jsValue(`{client: "app", properties: {userProperties: [["k", "v"]]}}`)}, "not connected: connect first (no client named app)"},
		{"unsubscribe, wrong", "unsubscribe", []any{"a/#", jsValue(`{client: 7}`)}, "unsubscribe: options.client: want a string, got number"},
		{"publish, good", "publish", []any{"t", u8, jsValue(`{client: "app", qos: 2, retain: true, properties: {contentType: "text/plain", messageExpiryInterval: 60}}`)}, "not connected: connect first (no client named app)"},
		{"publish, missing", "publish", []any{"t", "x"}, "not connected: connect first (no client named browser)"},
		{"publish, wrong", "publish", []any{"t", "x", jsValue(`{retain: 1}`)}, "publish: options.retain: want true or false, got number"},
		{"publish, bad value", "publish", []any{"t", "x", jsValue(`{qos: 3}`)}, "publish: options.qos: want 0, 1 or 2, got 3"},
		{"publish, wrong property", "publish", []any{"t", "x", jsValue(`{properties: {messageExpiryInterval: -5}}`)}, "publish: options.properties.messageExpiryInterval: want an integer from 0 to 4294967295, got -5"},
		{"disconnect, good", "disconnect", []any{jsValue(`{client: "app", reasonCode: 4, properties: {reasonString: "bye"}}`)}, ""},
		{"disconnect, missing", "disconnect", nil, ""},
		{"disconnect, wrong", "disconnect", []any{jsValue(`{reasonCode: 256}`)}, "disconnect: options.reasonCode: want an integer from 0 to 255, got 256"},
		{"disconnect, bad client", "disconnect", []any{jsValue(`{client: "broker"}`)}, "disconnect: options.client: names one of the page's clients, not the broker"},
		{"cut, good", "cut", []any{jsValue(`{client: "app"}`)}, "not connected: connect first (no client named app)"},
		{"cut, missing", "cut", nil, "not connected: connect first (no client named browser)"},
		{"cut, wrong", "cut", []any{jsValue(`{client: ["app"]}`)}, "cut: options.client: want a string, got array"},
		{"cut, unknown", "cut", []any{jsValue(`{clients: "app"}`)}, "cut: options.clients: not an option of cut (options has client)"},
		{"connect, wrong", "connect", []any{jsValue(`{will: {topic: "t", retain: "yes"}}`)}, "connect: options.will.retain: want true or false, got string"},
		{"connect, bad value", "connect", []any{jsValue(`{version: 3}`)}, "connect: options.version: want 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got 3"},
		{"connect, bad url", "connect", []any{jsValue(`{url: "http://x/mqtt"}`)}, "connect: options.url: a broker's WebSocket URL starts with ws:// or wss://"},
		{"connect, bad client", "connect", []any{jsValue(`{client: "a b"}`)}, "connect: options.client: letters, digits and - only"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, msg := settle(t, api.Call(tt.method, tt.args...))
			if tt.want == "" && msg != "" || !strings.HasPrefix(msg, tt.want) {
				t.Fatalf("%s rejected with %q, want %q", tt.method, msg, tt.want)
			}
		})
	}
	if len(a.sessions) != 0 {
		t.Fatalf("refused calls made sessions: %v", a.order)
	}

	// Good connect options make the client they describe (the e2e tests
	// connect for real); left out, the defaults.
	t.Run("connect", func(t *testing.T) {
		for _, tt := range []struct {
			name, src     string
			client, where string
			version       codec.Version
			id            string
		}{
			{"good", `{client: "device", url: "ws://127.0.0.1:9/mqtt", version: 5, clientId: "dev-1", keepAlive: 0, properties: {sessionExpiryInterval: 30}}`, "device", "ws://127.0.0.1:9/mqtt", codec.V5, "dev-1"},
			{"missing", `undefined`, "browser", a.defaultBroker, codec.V311, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				p := api.Call("connect", jsValue(tt.src))
				s := a.sessions[tt.client]
				if s == nil || s.where != tt.where || s.cl.Version() != tt.version || tt.id != "" && s.cl.ClientID() != tt.id {
					t.Fatalf("session %+v", s)
				}
				// No broker listens: the connect fails, and not on options.
				if _, msg := settle(t, p); msg == "" || strings.Contains(msg, "options") {
					t.Fatalf("connect settled with %q", msg)
				}
				if s.cl.State() != client.StateDisconnected {
					settle(t, api.Call("disconnect", map[string]any{"client": tt.client}))
				}
			})
		}
	})
}

// publish reads its common options in one call into JavaScript
// (jsPublishOpts), not with reflection: what that reads, assign reads the
// same; anything else (-1) is left to assign, whose errors stay the words.
func TestPublishOptionsFastPath(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want int // QoS + 4 if retained, or -1
	}{
		{`undefined`, 0}, {`null`, 0}, {`{}`, 0}, {`{qos: 1}`, 1}, {`{qos: 2, retain: true}`, 6},
		{`{retain: false}`, 0}, {`{qos: null, retain: undefined}`, 0},
		{`{qos: 3}`, -1}, {`{qos: 1.5}`, -1}, {`{qos: "1"}`, -1}, {`{retain: 1}`, -1}, {`{client: "app"}`, -1},
		{`{qos: 1, properties: {}}`, -1}, {`{qos: 1, Retain: true}`, -1}, {`[]`, -1}, {`"qos"`, -1}, {`7`, -1},
	} {
		got := jsPublishOpts.Invoke(jsValue(tt.src)).Int()
		if got != tt.want {
			t.Errorf("%s: read %d, want %d", tt.src, got, tt.want)
		}
		if got < 0 {
			continue
		}
		var o options.Publish
		if err := assign("publish", jsValue(tt.src), &o); err != nil || o != (options.Publish{QoS: uint8(got & 3), Retain: got&4 != 0}) {
			t.Errorf("%s: assign reads %+v, %v; the fast path %d", tt.src, o, err, got)
		}
	}
}
