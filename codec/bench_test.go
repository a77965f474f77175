package codec

import "testing"

// Quick in-package benchmarks; the comparison with other codecs lives in
// the separate module bench/codec.

func BenchmarkPublishDecode(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		raw := mustAppend(b, benchPublish, v)
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			var p Publish
			for i := 0; i < b.N; i++ {
				if err := p.Decode(raw, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkConnectDecode(b *testing.B) {
	for _, v := range []Version{V311, V5} {
		raw := mustAppend(b, benchConnect, v)
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			var p Connect
			for i := 0; i < b.N; i++ {
				if err := p.Decode(raw, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDissect(b *testing.B) {
	raw := mustAppend(b, benchPublish, V5)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		Dissect(raw, V5)
	}
}
