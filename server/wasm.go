package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
)

// wasmHandler serves the WebAssembly client precompressed: brotli or gzip as
// the browser accepts (made by `make wasm`), identity otherwise. Its ETag is
// the content hash; a request carrying ?v=<that hash> is cached for a year,
// the plain URL is revalidated (If-None-Match) on every load.
type wasmHandler struct {
	hash string
	raw  []byte
	br   []byte
	gz   []byte
}

// newWasmHandler reads name, name.br and name.gz from fsys. It returns nil
// without error when the wasm has not been built.
func newWasmHandler(fsys fs.FS, name string) (*wasmHandler, error) {
	raw, err := fs.ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	h := &wasmHandler{hash: hex.EncodeToString(sum[:8]), raw: raw}
	h.br, _ = fs.ReadFile(fsys, name+".br")
	h.gz, _ = fs.ReadFile(fsys, name+".gz")
	return h, nil
}

func (h *wasmHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, enc := h.raw, ""
	switch {
	case h.br != nil && accepts(r, "br"):
		body, enc = h.br, "br"
	case h.gz != nil && accepts(r, "gzip"):
		body, enc = h.gz, "gzip"
	}
	etag := `"` + h.hash + `"`
	hd := w.Header()
	hd.Set("Content-Type", "application/wasm")
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("ETag", etag)
	if r.URL.Query().Get("v") == h.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if enc != "" {
		hd.Set("Content-Encoding", enc)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body)
}

// accepts reports whether the request's Accept-Encoding allows coding (with
// a non-zero q).
func accepts(r *http.Request, coding string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), coding) {
			continue
		}
		params = strings.ReplaceAll(params, " ", "")
		if q, ok := strings.CutPrefix(params, "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				return false
			}
		}
		return true
	}
	return false
}
