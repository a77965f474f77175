package codec

import (
	"strings"
	"testing"
)

// A payload that is printable UTF-8 is shown as text in its field's label
// (what a learner reads), as hex otherwise; the value stays the hex.
func TestBytesShownAsText(t *testing.T) {
	long := strings.Repeat("é", 70)
	tests := []struct {
		name, payload, want string
	}{
		{"json", `{"celsius": 21.5}`, `Message: {"celsius": 21.5} (17 bytes)`},
		{"command", "set interval 60", "Message: set interval 60 (15 bytes)"},
		{"unicode", "21.5 °C", "Message: 21.5 °C (8 bytes)"},
		{"long text", long, "Message: " + strings.Repeat("é", 32) + "… (140 bytes)"}, // 64 bytes, whole characters
		{"binary", "\x00\x01\xff", "Message: 0001ff (3 bytes)"},
		{"newline", "a\nb", "Message: 610a62 (3 bytes)"},
		{"invalid utf-8", "a\xc3", "Message: 61c3 (2 bytes)"},
		{"empty", "", "Message:  (0 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendPacket(nil, &Publish{Topic: "t", Payload: []byte(tt.payload)}, V311)
			if err != nil {
				t.Fatal(err)
			}
			tree := Dissect(b, V311)
			var got *Field
			var walk func(fs []Field)
			walk = func(fs []Field) {
				for i := range fs {
					if fs[i].Name == "mqtt.msg" {
						got = &fs[i]
					}
					walk(fs[i].Children)
				}
			}
			walk(tree.Fields)
			if got == nil {
				t.Fatalf("no mqtt.msg in %+v", tree.Fields)
			}
			if got.Label != tt.want {
				t.Errorf("label %q, want %q", got.Label, tt.want)
			}
			if got.Value != hexString([]byte(tt.payload)) {
				t.Errorf("value %q, want the payload's hex", got.Value)
			}
		})
	}
}
