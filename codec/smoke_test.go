package codec

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestCaptureSmoke(t *testing.T) {
	for _, h := range []string{
		"102600044d51545404c2000500086465766963653031000864657669636530310006733363726574",
		"20020000",
		"821900010014646576696365732f64657669636530312f636d6401",
		"9003000101",
		"323b001a646576696365732f64657669636530312f74656c656d6574727900017b2274656d70223a32312e352c22646f6f72223a226c6f636b6564227d",
		"40020001", "e000", "c000", "d000",
	} {
		b, _ := hex.DecodeString(h)
		p, err := Decode(b, V311)
		if err != nil {
			t.Fatalf("%s: %v", h, err)
		}
		out, err := AppendPacket(nil, p, V311)
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("%s: re-encoded %x, %v", h, out, err)
		}
		t.Log(Summary(p))
		t.Log(Dissect(b, V311).Text())
	}
}
