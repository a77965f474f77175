package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// Default body limits of the HTTP handlers.
const (
	DefaultMaxImport = 256 << 20 // bytes of pcap/pcapng
	DefaultMaxExport = 64 << 20  // bytes of JSON entries
)

// HandlerOptions tunes Handler. The zero value uses the defaults.
type HandlerOptions struct {
	MaxImport int64 // largest capture POST /api/import accepts
	MaxExport int64 // largest JSON body POST /api/export/pcapng accepts
}

// Handler serves the page's capture endpoints:
//
//	POST /api/import          body: pcap or pcapng bytes
//	                          → 200 application/json {"entries":[…],"problems":[…],"conns":[…]}
//	POST /api/export/pcapng   body: application/json {"entries":[…]}
//	                          → 200 application/vnd.tcpdump.pcap (pcapng bytes)
//
// Errors are JSON {"error":"…"} with 400 (not a capture, bad JSON), 405
// (not POST) or 413 (body over the limit). The Origin check is the
// caller's: mount it behind the server's middleware, e.g.
//
//	h := capture.Handler(capture.HandlerOptions{})
//	mux.Handle("POST /api/import", checkOrigin(h))
//	mux.Handle("POST /api/export/pcapng", checkOrigin(h))
func Handler(opts HandlerOptions) http.Handler {
	if opts.MaxImport <= 0 {
		opts.MaxImport = DefaultMaxImport
	}
	if opts.MaxExport <= 0 {
		opts.MaxExport = DefaultMaxExport
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/import", func(w http.ResponseWriter, r *http.Request) { serveImport(w, r, opts.MaxImport) })
	mux.HandleFunc("/api/export/pcapng", func(w http.ResponseWriter, r *http.Request) { serveExport(w, r, opts.MaxExport) })
	return mux
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// bodyError maps a body read error to a status.
func bodyError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		httpError(w, http.StatusRequestEntityTooLarge, "body larger than "+formatBytes(tooBig.Limit))
		return
	}
	httpError(w, http.StatusBadRequest, err.Error())
}

func serveImport(w http.ResponseWriter, r *http.Request, max int64) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "POST a pcap or pcapng file")
		return
	}
	// Read the whole body first: a capture cut by the limit must be
	// refused, not shown as a damaged file.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		bodyError(w, err)
		return
	}
	res, err := ReadTrace(bytes.NewReader(body))
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	json.NewEncoder(w).Encode(res)
}

func serveExport(w http.ResponseWriter, r *http.Request, max int64) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, `POST {"entries":[…]}`)
		return
	}
	var req struct {
		Entries []trace.Entry `json:"entries"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	if err := dec.Decode(&req); err != nil {
		bodyError(w, err)
		return
	}
	var buf bytes.Buffer
	if _, err := WritePcapng(&buf, req.Entries, &ExportOptions{Start: time.Now()}); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="lifeline.pcapng"`)
	w.Write(buf.Bytes())
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
