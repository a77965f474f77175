package proxy

import (
	"testing"
)

func TestTopicMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true}, // # matches the parent level too [MQTT-4.7.1-2]
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"+/+", "a/b", true},
		{"+", "$SYS", false}, // [MQTT-4.7.2-1]
		{"#", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/+/c", "a//c", true},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.topic, func(t *testing.T) {
			if got := topicMatch(tt.filter, tt.topic); got != tt.want {
				t.Errorf("topicMatch(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
			}
		})
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		name    string
		types   []string
		topic   string
		wantErr bool
		match   []byte // a packet it must select, if any
	}{
		{"one type", []string{"PUBACK"}, "", false, []byte{0x40, 2, 0, 1}},
		{"any case", []string{"puback"}, "", false, []byte{0x40, 2, 0, 1}},
		{"all", []string{"*"}, "", false, []byte{0xc0, 0}},
		{"publish on a topic", []string{"PUBLISH"}, "a/+", false, []byte{0x30, 5, 0, 3, 'a', '/', 'b'}},
		{"none", nil, "", true, nil},
		{"unknown", []string{"PUBACKS"}, "", true, nil},
		{"reserved 0", []string{"Reserved"}, "", true, nil},
		{"topic without PUBLISH", []string{"PUBACK"}, "a", true, nil},
		{"bad #", []string{"PUBLISH"}, "a/#/b", true, nil},
		{"bad +", []string{"PUBLISH"}, "a/b+", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFilter(tt.types, tt.topic)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseFilter(%q, %q): %v, want error %v", tt.types, tt.topic, err, tt.wantErr)
			}
			if tt.match != nil && !f.match(tt.match[0], tt.match) {
				t.Errorf("%s does not select % x", f, tt.match)
			}
		})
	}
	f, _ := parseFilter([]string{"PUBLISH"}, "a/+")
	if f.match(0x30, []byte{0x30, 5, 0, 3, 'x', '/', 'b'}) {
		t.Error("a PUBLISH on x/b matches a/+")
	}
}

// FuzzLabFilter feeds the filter and the PUBLISH topic reader arbitrary
// input: no panic, and a topic read lies inside the packet.
func FuzzLabFilter(f *testing.F) {
	f.Add("PUBLISH", "a/+", []byte{0x30, 5, 0, 3, 'a', '/', 'b'})
	f.Add("*", "", []byte{0xc0, 0})
	f.Add("PUBACK", "#", []byte{0x40, 2, 0, 1})
	f.Add("PUBLISH", "a/#", []byte{0x32, 0xff, 0xff, 0xff, 0x7f, 0, 9})
	f.Fuzz(func(t *testing.T, typ, topic string, pkt []byte) {
		if len(pkt) == 0 {
			return
		}
		if tp, ok := publishTopic(pkt); ok && len(tp) > len(pkt) {
			t.Fatalf("topic %q longer than the packet", tp)
		}
		if flt, err := parseFilter([]string{typ}, topic); err == nil {
			flt.match(pkt[0], pkt)
			_ = flt.String()
		}
	})
}
