package jsonw

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func init() {
	SlowFloat = func(s string) float64 {
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
}

// decode reads any JSON value the way encoding/json decodes into any.
func decode(r *Reader) any {
	switch r.peek() {
	case '{':
		m := map[string]any{}
		r.Object(func(k string) { m[k] = decode(r) })
		return m
	case '[':
		a := []any{}
		r.Array(func() { a = append(a, decode(r)) })
		return a
	case '"':
		return r.String()
	case 't', 'f':
		return r.Bool()
	case 'n':
		r.Skip()
		return nil
	}
	return r.Float()
}

func TestReaderMatchesEncodingJSON(t *testing.T) {
	tests := []struct{ name, in string }{
		{"entry", `{"type":"entry","entry":{"seq":3,"t":12.345,"leg":"proxy-broker","from":"broker","to":"proxy","kind":"mqtt.PUBLISH","summary":"PUBLISH (9 bytes)","bytes":"MAcAAXR4eXo=","observed":"wire","conn":"c1","version":4}}`},
		{"escapes", `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\u2028\ud83d\ude00 <>&"}`},
		{"lone surrogate", `["\ud800x","\udc00"]`},
		{"numbers", `[0,-1,1.5,1e3,-2.5E-3,123456789012,12.345,0.001,2431.123456789,-0,1.4000000000000001,1e-7,5e-324,1.7976931348623157e308]`},
		{"nesting and space", " { \"a\" : [ true , false , null , { } , [ ] ] } "},
		{"empty string", `""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want any
			if err := json.Unmarshal([]byte(tt.in), &want); err != nil {
				t.Fatal(err)
			}
			r := NewReader([]byte(tt.in))
			got := decode(r)
			if !r.End() {
				t.Fatalf("not at the end or error (err=%v)", r.Err())
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestReaderRejectsMalformed(t *testing.T) {
	for _, in := range []string{`{"a":}`, `{"a" 1}`, `[1,]x`, `"abc`, `{"a":"\x"}`, `tru`, `{"a":1`, "\"a\x01\""} {
		r := NewReader([]byte(in))
		decode(r)
		if r.End() {
			t.Errorf("%q read without error", in)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(`{"type":"entry","entry":{"seq":1,"t":1.5,"bytes":"AAE=","summary":"a\u00e9"}}`)
	f.Add(`["\ud83d\ude00",1e5,null]`)
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader([]byte(in))
		got := decode(r)
		ok := r.End()
		var want any
		err := json.Unmarshal([]byte(in), &want)
		if ok != (err == nil) {
			t.Fatalf("%q: reader ok=%v, encoding/json err=%v", in, ok, err)
		}
		if ok && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v want %#v", in, got, want)
		}
	})
}

func TestIntern(t *testing.T) {
	tab := map[string]string{}
	in := `["proxy-broker","proxy-broker","a\nb","a\nb","x"]`
	r := NewStringReader(in)
	var got []string
	r.Array(func() { got = append(got, r.Intern(tab, 2)) })
	if !r.End() || !reflect.DeepEqual(got, []string{"proxy-broker", "proxy-broker", "a\nb", "a\nb", "x"}) {
		t.Fatalf("got %q (err %v)", got, r.Err())
	}
	if len(tab) != 2 {
		t.Fatalf("table %v: want it capped at 2", tab)
	}
	allocs := testing.AllocsPerRun(100, func() {
		r := NewStringReader(`"proxy-broker"`)
		r.Intern(tab, 2)
	})
	if allocs > 1 { // the Reader itself
		t.Fatalf("interned read allocates %v times", allocs)
	}
}

func TestReaderIsAndBase64(t *testing.T) {
	r := NewStringReader(`["wire","wir","wire2","w\u0069re","d2lyZQ==","d2ly\u005aQ==","!!",7]`)
	var got []string
	i := 0
	r.Array(func() {
		switch i {
		case 0, 1, 2, 3:
			if r.Is("wire") {
				got = append(got, "is")
			} else {
				got = append(got, "not:"+r.String())
			}
		case 4, 5, 6, 7:
			b, ok := r.Base64()
			got = append(got, string(b)+":"+strconv.FormatBool(ok))
		}
		i++
	})
	want := "is not:wir not:wire2 not:wire wire:true wire:true :false :false"
	if r.Err() && i != 8 || strings.Join(got, " ") != want {
		t.Fatalf("got %q (err %v), want %q", strings.Join(got, " "), r.Err(), want)
	}
}
