package main

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/lifeline-mqtt/lifeline/static"
)

func TestWasmHandler(t *testing.T) {
	raw := bytes.Repeat([]byte("\x00asm wasm "), 100)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()
	fsys := fstest.MapFS{
		"wasm/main.wasm":    {Data: raw},
		"wasm/main.wasm.gz": {Data: gz.Bytes()},
		"wasm/main.wasm.br": {Data: []byte("brotli bytes")},
	}
	h, err := newWasmHandler(fsys, "wasm/main.wasm")
	if err != nil || h == nil {
		t.Fatal(h, err)
	}
	tests := []struct {
		name, accept, query, inm string
		status                   int
		encoding, cache          string
		body                     []byte
	}{
		{"brotli", "gzip, deflate, br", "", "", 200, "br", "no-cache", []byte("brotli bytes")},
		{"gzip", "gzip", "", "", 200, "gzip", "no-cache", gz.Bytes()},
		{"br refused", "br;q=0, gzip", "", "", 200, "gzip", "no-cache", gz.Bytes()},
		{"identity", "", "", "", 200, "", "no-cache", raw},
		{"hashed URL", "br", "?v=" + h.hash, "", 200, "br", "public, max-age=31536000, immutable", []byte("brotli bytes")},
		{"stale hash", "br", "?v=0000", "", 200, "br", "no-cache", []byte("brotli bytes")},
		{"not modified", "br", "", `"` + h.hash + `"`, 304, "", "no-cache", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/wasm/main.wasm"+tt.query, nil)
			if tt.accept != "" {
				r.Header.Set("Accept-Encoding", tt.accept)
			}
			if tt.inm != "" {
				r.Header.Set("If-None-Match", tt.inm)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			res := rec.Result()
			if res.StatusCode != tt.status || res.Header.Get("Content-Encoding") != tt.encoding ||
				res.Header.Get("Cache-Control") != tt.cache || !bytes.Equal(rec.Body.Bytes(), tt.body) {
				t.Fatalf("status %d encoding %q cache %q, %d body bytes", res.StatusCode,
					res.Header.Get("Content-Encoding"), res.Header.Get("Cache-Control"), rec.Body.Len())
			}
			if tt.status == http.StatusOK && (res.Header.Get("Content-Type") != "application/wasm" ||
				res.Header.Get("ETag") != `"`+h.hash+`"` || res.Header.Get("Vary") != "Accept-Encoding") {
				t.Fatalf("headers %v", res.Header)
			}
		})
	}
	if h, err := newWasmHandler(fstest.MapFS{}, "wasm/main.wasm"); h != nil || err != nil {
		t.Fatalf("without a built wasm: %v %v, want nil nil", h, err)
	}
}

// wasmBudget is the most the WebAssembly client may weigh as transferred
// (brotli), in bytes: every visitor downloads it before the page works.
const wasmBudget = 800_000

// TestWasmSizeBudget fails when the built client (embedded by `make wasm`,
// which `make test` runs first) is over budget, saying by how much.
func TestWasmSizeBudget(t *testing.T) {
	br, err := fs.ReadFile(static.FS, "wasm/main.wasm.br")
	if err != nil {
		t.Fatalf("static/wasm/main.wasm.br: %v: run `make wasm` first (`make test` does)", err)
	}
	if n := len(br); n > wasmBudget {
		t.Fatalf("static/wasm/main.wasm.br is %s bytes, %s over the budget of %s: make room (README, \"Measured\") before adding to the wasm",
			group(n), group(n-wasmBudget), group(wasmBudget))
	} else {
		t.Logf("main.wasm.br: %s bytes, %s under the budget of %s", group(n), group(wasmBudget-n), group(wasmBudget))
	}
}

// group writes n with thousands separators, as the README does.
func group(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
