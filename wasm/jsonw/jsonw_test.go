package jsonw

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
)

func TestStringMatchesEncodingJSON(t *testing.T) {
	tests := []struct{ name, s string }{
		{"plain", "hello"},
		{"html", `<img src=x onerror=alert(1)>&`},
		{"quotes and backslash", `say "hi" \ bye`},
		{"controls", "a\x00b\x01\x1f\n\r\t"},
		{"unicode", "caf\u00e9 \u2603 \U0001F600"},
		{"line separators", "a\u2028b\u2029c"},
		{"invalid utf-8", "a\xffb\xc3"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := json.Marshal(tt.s)
			var w Writer
			w.String(tt.s)
			if !bytes.Equal(w.B, want) {
				t.Fatalf("got  %s\nwant %s", w.B, want)
			}
		})
	}
}

func TestNumbersMatchEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.5, 1.25, 1234.5678, 1e-7, 1e21, 123456789012345, -0.000001, 3.0000000000000004} {
		want, _ := json.Marshal(f)
		var w Writer
		w.Float(f)
		if !bytes.Equal(w.B, want) {
			t.Errorf("Float(%v) = %s, want %s", f, w.B, want)
		}
	}
	var w Writer
	w.Open('[')
	w.Float(math.NaN())
	w.Float(math.Inf(1))
	w.Int(-42)
	w.Close(']')
	if string(w.B) != "[0,0,-42]" {
		t.Fatalf("got %s", w.B)
	}
}

func TestNesting(t *testing.T) {
	type inner struct {
		B []byte `json:"b"`
		N []int  `json:"n"`
	}
	type outer struct {
		S  string  `json:"s"`
		I  inner   `json:"i"`
		L  []inner `json:"l"`
		OK bool    `json:"ok"`
	}
	v := outer{S: "x", I: inner{B: []byte{0, 255, 7}, N: []int{1, 2}}, L: []inner{{B: nil, N: []int{}}, {B: []byte("hi"), N: []int{3}}}, OK: true}
	want, _ := json.Marshal(v)

	var w Writer
	writeInner := func(in inner) {
		w.Open('{')
		w.Key("b")
		if in.B == nil {
			w.Null()
		} else {
			w.Base64(in.B)
		}
		w.Key("n")
		w.Open('[')
		for _, n := range in.N {
			w.Int(n)
		}
		w.Close(']')
		w.Close('}')
	}
	w.Open('{')
	w.KString("s", v.S)
	w.Key("i")
	writeInner(v.I)
	w.Key("l")
	w.Open('[')
	for _, in := range v.L {
		writeInner(in)
	}
	w.Close(']')
	w.KBool("ok", v.OK)
	w.Close('}')
	if !bytes.Equal(w.B, want) {
		t.Fatalf("got  %s\nwant %s", w.B, want)
	}
}

func FuzzString(f *testing.F) {
	f.Add("<a>&\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		var w Writer
		w.String(s)
		if !bytes.Equal(w.B, want) {
			t.Fatalf("got %s want %s", w.B, want)
		}
	})
}
