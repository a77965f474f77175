package options

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/client"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/internal/importcheck"
)

// TestImports keeps the package out of the heavy standard packages: it is
// compiled into the WebAssembly client that every visitor downloads.
func TestImports(t *testing.T) {
	importcheck.Banned(t, "fmt", "reflect", "encoding/json", "net/http")
}

func ptr[T any](v T) *T { return &v }

// wantField checks that err is an *Error for field whose problem contains
// problem.
func wantField(t *testing.T, err error, field, problem string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Field != field || !strings.Contains(e.Problem, problem) {
		t.Fatalf("error %v, want %s: …%s…", err, field, problem)
	}
}

func TestConnectConfig(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		cfg, err := (&Connect{}).Config()
		if err != nil {
			t.Fatal(err)
		}
		want := client.Config{Version: codec.V311, KeepAlive: 30, CleanStart: true}
		if !reflect.DeepEqual(cfg, want) {
			t.Fatalf("config %+v, want %+v", cfg, want)
		}
	})
	t.Run("everything", func(t *testing.T) {
		o := Connect{Version: ptr(5), ClientID: "dev", Username: "u", Password: []byte{}, KeepAlive: ptr[uint16](0),
			CleanStart: ptr(false), Reconnect: true, SessionExpiry: ptr[uint32](60),
			Will: &Will{Topic: "w/t", Payload: []byte("bye"), QoS: 1, Retain: true, Properties: &Properties{WillDelayInterval: ptr[uint32](5)}},
			Properties: &Properties{ReceiveMaximum: ptr[uint16](10), RequestProblemInformation: ptr(false),
				UserProperties: [][]string{{"a", "1"}, {"a", "2"}}}}
		cfg, err := o.Config()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Version != codec.V5 || cfg.ClientID != "dev" || cfg.Username != "u" || cfg.Password == nil || cfg.KeepAlive != 0 || cfg.CleanStart || !cfg.Reconnect {
			t.Fatalf("config %+v", cfg)
		}
		p := cfg.Properties
		if !p.Has(codec.PropSessionExpiry) || p.SessionExpiry != 60 || !p.Has(codec.PropReceiveMaximum) || p.ReceiveMaximum != 10 ||
			!p.Has(codec.PropRequestProblemInfo) || p.RequestProblemInfo != 0 || p.Has(codec.PropRequestResponseInfo) ||
			!reflect.DeepEqual(p.User, []codec.UserProperty{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}) {
			t.Fatalf("properties %+v", p)
		}
		w := cfg.Will
		if w == nil || w.Topic != "w/t" || string(w.Payload) != "bye" || w.QoS != 1 || !w.Retain || !w.Properties.Has(codec.PropWillDelay) || w.Properties.WillDelay != 5 {
			t.Fatalf("will %+v", cfg.Will)
		}
		// The CONNECT the client sends encodes.
		c := &codec.Connect{Version: cfg.Version, ClientID: cfg.ClientID, Properties: cfg.Properties, WillFlag: true, WillTopic: w.Topic, WillProperties: w.Properties}
		if _, err := codec.AppendPacket(nil, c, cfg.Version); err != nil {
			t.Fatalf("does not encode: %v", err)
		}
	})
	for _, tt := range []struct {
		name           string
		o              Connect
		field, problem string
	}{
		{"version 3", Connect{Version: ptr(3)}, "options.version", "want 4 (MQTT 3.1.1) or 5 (MQTT 5.0), got 3"},
		{"sessionExpiry in 3.1.1", Connect{SessionExpiry: ptr[uint32](5)}, "options.sessionExpiry", "MQTT 5.0 only"},
		{"will without a topic", Connect{Will: &Will{Payload: []byte("x")}}, "options.will.topic", "needs a topic"},
		{"will at QoS 3", Connect{Will: &Will{Topic: "t", QoS: 3}}, "options.will.qos", "want 0, 1 or 2, got 3"},
		{"will property", Connect{Will: &Will{Topic: "t", Properties: &Properties{PayloadFormatIndicator: ptr[uint8](2)}}}, "options.will.properties.payloadFormatIndicator", "got 2"},
		{"a lone user property", Connect{Properties: &Properties{UserProperties: [][]string{{"k", "v"}, {"k"}}}}, "options.properties.userProperties[1]", "want a [key, value] pair, got 1"},
		{"subscription identifier 0", Connect{Properties: &Properties{SubscriptionIdentifier: ptr(0)}}, "options.properties.subscriptionIdentifier", "want 1 to 268435455"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.o.Config()
			wantField(t, err, tt.field, tt.problem)
		})
	}
}

func TestConnectDirect(t *testing.T) {
	for _, tt := range []struct {
		url    string
		direct bool
		bad    bool
	}{
		{"", false, false},
		{"ws://127.0.0.1:9001/mqtt", true, false},
		{"wss://broker.example/mqtt", true, false},
		{"http://127.0.0.1:9001/mqtt", false, true},
		{"127.0.0.1:1883", false, true},
	} {
		direct, err := (&Connect{URL: tt.url}).Direct()
		if direct != tt.direct || (err != nil) != tt.bad {
			t.Errorf("Direct(%q) = %v, %v", tt.url, direct, err)
		}
		if tt.bad {
			wantField(t, err, "options.url", "ws:// or wss://")
		}
	}
}

func TestClientName(t *testing.T) {
	for _, tt := range []struct {
		in, want, problem string
	}{
		{"", "browser", ""},
		{"device", "device", ""},
		{"cloud-app-2", "cloud-app-2", ""},
		{strings.Repeat("a", 32), strings.Repeat("a", 32), ""},
		{strings.Repeat("a", 33), "", "not 33 characters"},
		{"broker", "", "not the broker"},
		{"proxy", "", "not the proxy"},
		{"dns", "", "not the dns"},
		{"my app", "", "letters, digits and - only"},
		{"<b>", "", "letters, digits and - only"},
	} {
		got, err := ClientName(tt.in)
		if tt.problem == "" {
			if err != nil || got != tt.want {
				t.Errorf("ClientName(%q) = %q, %v", tt.in, got, err)
			}
			continue
		}
		wantField(t, err, "options.client", tt.problem)
	}
}

func TestSubscriptions(t *testing.T) {
	o := Subscribe{QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, Properties: &Properties{SubscriptionIdentifier: ptr(7)}}
	subs, props, err := o.Subscriptions([]string{"a/#", "b/+"})
	if err != nil {
		t.Fatal(err)
	}
	want := codec.Subscription{Filter: "b/+", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}
	if len(subs) != 2 || subs[0].Filter != "a/#" || subs[1] != want {
		t.Fatalf("subscriptions %+v", subs)
	}
	if !reflect.DeepEqual(props.SubscriptionIdentifiers, []int{7}) {
		t.Fatalf("properties %+v", props)
	}
	_, _, err = (&Subscribe{QoS: 3}).Subscriptions([]string{"a"})
	wantField(t, err, "options.qos", "got 3")
	_, _, err = (&Subscribe{RetainHandling: 3}).Subscriptions([]string{"a"})
	wantField(t, err, "options.retainHandling", "got 3")
}

func TestPublishMessage(t *testing.T) {
	o := Publish{QoS: 1, Retain: true, Properties: &Properties{ContentType: ptr(""), CorrelationData: []byte{0, 1},
		PayloadFormatIndicator: ptr[uint8](1), MessageExpiryInterval: ptr[uint32](60), ResponseTopic: ptr("r")}}
	m, err := o.Message("t", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	p := m.Properties
	if m.Topic != "t" || string(m.Payload) != "x" || m.QoS != 1 || !m.Retain ||
		!p.Has(codec.PropContentType) || p.ContentType != "" || string(p.CorrelationData) != "\x00\x01" ||
		p.PayloadFormat != 1 || p.MessageExpiry != 60 || p.ResponseTopic != "r" || p.Has(codec.PropReasonString) {
		t.Fatalf("message %+v", m)
	}
	_, err = (&Publish{QoS: 4}).Message("t", nil)
	wantField(t, err, "options.qos", "got 4")
}

func TestDisconnectAndUnsubscribe(t *testing.T) {
	code, p, err := (&Disconnect{ReasonCode: 4, Properties: &Properties{ReasonString: ptr("battery low"), SessionExpiryInterval: ptr[uint32](0)}}).Props()
	if err != nil || code != 4 || p.ReasonString != "battery low" || !p.Has(codec.PropSessionExpiry) {
		t.Fatalf("disconnect %v %+v %v", code, p, err)
	}
	p, err = (&Unsubscribe{Properties: &Properties{UserProperties: [][]string{{"k", "v"}}}}).Props()
	if err != nil || len(p.User) != 1 {
		t.Fatalf("unsubscribe %+v %v", p, err)
	}
	if p, err := (&Unsubscribe{}).Props(); err != nil || p.Present != 0 || p.User != nil {
		t.Fatalf("no properties: %+v %v", p, err)
	}
}

// Every field of every options struct has a js tag, each once in its
// struct (the tag is the JavaScript name; a field without one would be read
// by its Go name), and a type the package doc lists (the wasm's check reads
// no other).
func TestEveryFieldHasAJSTagAndAReadableType(t *testing.T) {
	var readable func(typ reflect.Type) bool
	readable = func(typ reflect.Type) bool {
		switch typ.Kind() {
		case reflect.String, reflect.Bool, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Int, reflect.Struct:
			return true
		case reflect.Pointer, reflect.Slice:
			return readable(typ.Elem())
		}
		return false
	}
	for _, v := range []any{Connect{}, Will{}, Properties{}, Subscribe{}, Unsubscribe{}, Publish{}, Disconnect{}, Cut{}, Lab{}} {
		typ := reflect.TypeOf(v)
		seen := map[string]bool{}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			tag := f.Tag.Get("js")
			if tag == "" || seen[tag] {
				t.Errorf("%s.%s: js tag %q", typ.Name(), f.Name, tag)
			}
			seen[tag] = true
			if !readable(f.Type) {
				t.Errorf("%s.%s: %s is not a type the package doc lists", typ.Name(), f.Name, f.Type)
			}
		}
	}
}

func ExampleConnect_Config() {
	keepAlive := uint16(70)
	o := Connect{ClientID: "sensor-1", KeepAlive: &keepAlive, Will: &Will{Topic: "sensors/1/status", Payload: []byte("offline")}}
	cfg, err := o.Config()
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.ClientID, cfg.KeepAlive, cfg.Will.Topic, string(cfg.Will.Payload))

	o.Will.QoS = 3
	_, err = o.Config()
	fmt.Println(err)
	// Output:
	// sensor-1 70 sensors/1/status offline
	// options.will.qos: want 0, 1 or 2, got 3
}
