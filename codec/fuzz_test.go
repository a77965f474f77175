package codec

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// fuzzVersion picks the version a fuzz input is read as.
func fuzzVersion(vb byte) Version {
	if vb&1 == 1 {
		return V5
	}
	return V311
}

func seedVectors(f *testing.F) {
	for _, vec := range vectors {
		f.Add(vectorBytes(f, vec), byte(vec.v))
	}
}

// FuzzDecode: decoding and dissecting never panic; whatever decodes
// re-encodes, and decode -> encode -> decode is stable.
// fuzzDecoderPrev are the packets a Decoder takes before the fuzzed one:
// a PUBLISH and a PUBACK with every part set, MQTT 5.0.
var fuzzDecoderPrev = func() [][]byte {
	pub := &Publish{QoS: 2, Retain: true, Dup: true, Topic: "prev/topic", PacketID: 9, Payload: []byte("previous")}
	pub.Properties.ContentType = "text/plain"
	pub.Properties.Set(PropContentType)
	pub.Properties.User = []UserProperty{{"k", "v"}}
	ack := &Puback{PacketID: 9, ReasonCode: ReasonNoMatchingSubscribers}
	ack.Properties.ReasonString = "none"
	ack.Properties.Set(PropReasonString)
	var out [][]byte
	for _, p := range []Packet{pub, ack} {
		b, err := AppendPacket(nil, p, V5)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}()

func FuzzDecode(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte, vb byte) {
		v := fuzzVersion(vb)
		p, err := Decode(b, v)
		// A Decoder, after a packet of each type it keeps, decodes as
		// Decode does: nothing of the last packet shows in the next.
		var d Decoder
		for _, prev := range fuzzDecoderPrev {
			d.Decode(prev, V5)
		}
		dp, derr := d.Decode(b, v)
		if (err == nil) != (derr == nil) || err != nil && err.Error() != derr.Error() ||
			err == nil && !reflect.DeepEqual(normalize(dp), normalize(p)) {
			t.Fatalf("Decoder and Decode differ on %x: %+v, %v vs %+v, %v", b, dp, derr, p, err)
		}
		tree := Dissect(b, v)
		for _, e := range tree.Expert {
			if strings.Contains(e.Message, errInternal.Error()) {
				t.Fatalf("Dissect(%x) panicked (recovered)", b)
			}
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Offset < 0 || de.Offset > len(b) {
				t.Fatalf("error offset %d outside %d bytes", de.Offset, len(b))
			}
			if len(tree.Expert) == 0 {
				t.Fatalf("Decode failed (%v) but Dissect has no expert note", err)
			}
			return
		}
		if len(tree.Expert) != 0 {
			t.Fatalf("Decode ok but Dissect notes %+v", tree.Expert)
		}
		// The general decoder (used when dissecting) agrees with the fast paths.
		slow := New(p.Type()).(codecPacket)
		if err := slow.decode(b, v, nil); err != nil || !reflect.DeepEqual(normalize(slow), normalize(p)) {
			t.Fatalf("fast and general decoders differ on %x: %+v vs %+v (%v)", b, p, slow, err)
		}
		if c, ok := p.(*Connect); ok {
			v = c.Version
		}
		enc, err := AppendPacket(nil, p, v)
		if err != nil {
			t.Fatalf("decoded %x but cannot re-encode: %v", b, err)
		}
		// Byte-exact: an MQTT 5.0 packet re-encodes to the same bytes
		// (properties in their order, an ack's Reason Code 0 or Property
		// Length 0 spelled out as it came); a 3.1.1 one when its
		// re-encoding has the same length (the same optional fields).
		if (v == V5 || len(enc) == len(b)) && !bytes.Equal(enc, b) {
			t.Fatalf("decoded %x re-encodes to %x", b, enc)
		}
		p2, err := Decode(enc, v)
		if err != nil {
			t.Fatalf("re-encoding %x does not decode: %v", enc, err)
		}
		enc2, err := AppendPacket(nil, p2, v)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable: %x -> %x -> %x (%v)", b, enc, enc2, err)
		}
		if n, err := PacketLen(b, 0); err != nil || n != len(b) {
			t.Fatalf("PacketLen = %d, %v for a decoded %d-byte packet", n, err, len(b))
		}
	})
}

// FuzzSplitter: any chunking of a stream yields the same packets, and a
// Splitter never returns a packet larger than its limit.
func FuzzSplitter(f *testing.F) {
	var all []byte
	for _, vec := range vectors {
		if vec.err == nil {
			all = append(all, vectorBytes(f, vec)...)
		}
	}
	f.Add(all, uint16(7), uint16(300))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}, uint16(1), uint16(64))
	f.Fuzz(func(t *testing.T, stream []byte, chunk, max uint16) {
		if chunk == 0 {
			chunk = 1
		}
		whole := NewSplitter(int(max))
		whole.Write(stream)
		var want [][]byte
		var wantErr error
		for {
			p, ok, err := whole.Next()
			if err != nil {
				wantErr = err
				break
			}
			if !ok {
				break
			}
			if max > 0 && len(p) > int(max) {
				t.Fatalf("packet of %d bytes over the limit %d", len(p), max)
			}
			want = append(want, bytes.Clone(p))
		}
		s := NewSplitter(int(max))
		var got [][]byte
		var gotErr error
		for i := 0; i < len(stream) && gotErr == nil; i += int(chunk) {
			s.Write(stream[i:min(i+int(chunk), len(stream))])
			for {
				p, ok, err := s.Next()
				if err != nil {
					gotErr = err
					break
				}
				if !ok {
					break
				}
				got = append(got, bytes.Clone(p))
			}
		}
		if len(got) != len(want) || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("chunked: %d packets, err %v; whole: %d packets, err %v", len(got), gotErr, len(want), wantErr)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("packet %d differs", i)
			}
		}
	})
}

// FuzzDecodeBound: decoding allocates at most a bound linear in the input
// (the packet struct plus slices of elements, each of which consumes input
// bytes), never anything sized by a length field. It is separate from
// FuzzDecode because reading memory statistics is slow.
func FuzzDecodeBound(f *testing.F) {
	seedVectors(f)
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 'a'}, byte(4))
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01}, byte(5))
	f.Fuzz(func(t *testing.T, b []byte, vb byte) {
		v := fuzzVersion(vb)
		// The fuzzing worker allocates in the background too: take the
		// smallest of three measurements.
		got := ^uint64(0)
		for i := 0; i < 3; i++ {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			Decode(b, v)
			runtime.ReadMemStats(&after)
			got = min(got, after.TotalAlloc-before.TotalAlloc)
		}
		if bound := uint64(4096 + 64*len(b)); got > bound {
			t.Fatalf("Decode of %d bytes allocated %d bytes, bound %d", len(b), got, bound)
		}
	})
}
