package capture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// Default limits of the HTTP handlers.
const (
	DefaultMaxImport     = 256 << 20 // bytes of pcap/pcapng
	DefaultMaxExport     = 64 << 20  // bytes of JSON entries
	DefaultMaxEntries    = 1_000_000 // entries an import yields or an export carries
	DefaultMaxConns      = defaultMaxConns
	DefaultMaxInterfaces = defaultMaxInterfaces
	DefaultBodyTimeout   = time.Minute
	DefaultWorkers       = 2
)

// HandlerOptions tunes Handler. The zero value uses the defaults.
type HandlerOptions struct {
	MaxImport int64 // largest capture POST /api/import accepts
	MaxExport int64 // largest JSON body POST /api/export/pcapng accepts
	// MaxEntries bounds the trace entries an import yields and an export
	// carries (413 beyond).
	MaxEntries int
	// MaxConns bounds the TCP connections an import follows at once
	// (those over it are skipped and listed as a problem) and the
	// connections an export writes (413 beyond).
	MaxConns int
	// MaxInterfaces bounds a pcapng upload's interface description
	// blocks (413 beyond).
	MaxInterfaces int
	// BodyTimeout is how long a request body may take to arrive (408
	// beyond), so that a slow upload cannot hold the server's memory or
	// its workers.
	BodyTimeout time.Duration
	// Workers is how many imports and exports are processed at once,
	// counted only once their bodies have arrived (503 beyond).
	Workers int
	// MaxPending bounds the bytes of request bodies held at once, arriving
	// or being processed (503 beyond); default twice the larger of
	// MaxImport and MaxExport.
	MaxPending int64
}

// Handler serves the page's capture endpoints:
//
//	POST /api/import          body: pcap or pcapng bytes
//	                          → 200 application/json {"entries":[…],"problems":[…],"conns":[…]}
//	POST /api/export/pcapng   body: application/json {"entries":[…]}
//	                          → 200 application/vnd.tcpdump.pcap (pcapng bytes)
//
// Errors are JSON {"error":"…"} with 400 (not a capture, bad JSON), 405
// (not POST), 408 (body too slow), 413 (body, entries, connections or
// interface blocks over the limit) or 503 (busy). A body is read whole
// before its request takes a worker; the response is streamed, so memory
// is the body plus bounded state. The Origin check is the caller's: mount
// it behind the server's middleware, e.g.
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
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxInterfaces <= 0 {
		opts.MaxInterfaces = DefaultMaxInterfaces
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = DefaultBodyTimeout
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 2 * max(opts.MaxImport, opts.MaxExport)
	}
	h := &handler{opts: opts, workers: make(chan struct{}, opts.Workers)}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/import", h.serveImport)
	mux.HandleFunc("/api/export/pcapng", h.serveExport)
	return mux
}

type handler struct {
	opts    HandlerOptions
	workers chan struct{}
	pending atomic.Int64 // bytes reserved for bodies
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// limitError answers a request refused by a bound.
func limitError(w http.ResponseWriter, err error) bool {
	var le *LimitError
	if !errors.As(err, &le) {
		return false
	}
	httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("more than %d %s: the server's limit", le.Limit, le.What))
	return true
}

// body is a request body read whole, in chunks, so that it can be read
// again and is never copied to grow.
type body struct {
	chunks   [][]byte
	reserved int64
}

func (b *body) reader() io.Reader {
	rs := make([]io.Reader, len(b.chunks))
	for i, c := range b.chunks {
		rs[i] = bytes.NewReader(c)
	}
	return io.MultiReader(rs...)
}

const bodyChunk = 64 << 10

// readBody reads r's body whole within the body timeout, reserving its
// bytes against MaxPending as they arrive, and then takes a worker. ok is
// false when it has answered the request; otherwise done must be called.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request, limit int64, what string) (b *body, done func(), ok bool) {
	if r.ContentLength > limit {
		httpError(w, http.StatusRequestEntityTooLarge, "body larger than "+formatBytes(limit))
		return nil, nil, false
	}
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(h.opts.BodyTimeout)
	if err := rc.SetReadDeadline(deadline); err != nil && !errors.Is(err, http.ErrNotSupported) {
		httpError(w, http.StatusInternalServerError, err.Error())
		return nil, nil, false
	}
	b = &body{}
	release := func() { h.pending.Add(-b.reserved); b.chunks, b.reserved = nil, 0 }
	in := http.MaxBytesReader(w, r.Body, limit)
	for {
		if h.pending.Add(bodyChunk) > h.opts.MaxPending {
			h.pending.Add(-bodyChunk)
			release()
			w.Header().Set("Retry-After", "5")
			httpError(w, http.StatusServiceUnavailable, "busy: "+formatBytes(h.opts.MaxPending)+
				" of imports and exports are being received or processed; try again shortly")
			return nil, nil, false
		}
		b.reserved += bodyChunk
		c := make([]byte, bodyChunk)
		n, err := io.ReadFull(in, c)
		if n > 0 {
			b.chunks = append(b.chunks, c[:n])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			release()
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				httpError(w, http.StatusRequestEntityTooLarge, "body larger than "+formatBytes(tooBig.Limit))
			case errors.Is(err, os.ErrDeadlineExceeded):
				httpError(w, http.StatusRequestTimeout, fmt.Sprintf("the %s did not arrive within %v", what, h.opts.BodyTimeout))
			default:
				httpError(w, http.StatusBadRequest, "reading the "+what+": "+err.Error())
			}
			return nil, nil, false
		}
	}
	rc.SetReadDeadline(time.Time{})
	select {
	case h.workers <- struct{}{}:
	default:
		release()
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "busy: too many imports or exports at once; try again shortly")
		return nil, nil, false
	}
	return b, func() { <-h.workers; release() }, true
}

func (h *handler) serveImport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "POST a pcap or pcapng file")
		return
	}
	// Read the whole body first: a capture cut by the limit must be
	// refused, not shown as a damaged file.
	b, done, ok := h.readBody(w, r, h.opts.MaxImport, "capture")
	if !ok {
		return
	}
	defer done()
	h.importTrace(w, b)
}

// lateItem is an entry Scan gave out of frame order (held until its
// connection was recognised), with its place among all entries given.
type lateItem struct {
	Item
	index int
}

// importTrace answers with the capture in b as ReadTrace would read it,
// streamed: a first Scan checks the limits and keeps the few entries that
// come out of frame order; a second writes the entries as they come, the
// late ones put back in their place.
func (h *handler) importTrace(w http.ResponseWriter, b *body) {
	opts := Options{MaxConns: h.opts.MaxConns, MaxInterfaces: h.opts.MaxInterfaces}
	var late []lateItem
	n, last := 0, 0
	_, err := Scan(b.reader(), opts, func(it Item) error {
		if n == h.opts.MaxEntries {
			return &LimitError{What: "trace entries in the capture", Limit: h.opts.MaxEntries}
		}
		if it.Frame < last {
			late = append(late, lateItem{it, n})
		} else {
			last = it.Frame
		}
		n++
		return nil
	})
	if err != nil {
		if !limitError(w, err) {
			httpError(w, http.StatusBadRequest, err.Error())
		}
		return
	}
	slices.SortStableFunc(late, func(a, b lateItem) int { return a.Frame - b.Frame })
	isLate := make(map[int]bool, len(late))
	for _, l := range late {
		isLate[l.index] = true
	}

	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	out := bufio.NewWriterSize(w, 64<<10)
	out.WriteString(`{"entries":[`)
	var seq numbering
	written := 0
	put := func(e trace.Entry) error {
		seq.give(&e)
		if written++; written > 1 {
			out.WriteByte(',')
		}
		j, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = out.Write(j)
		return err
	}
	i, next := 0, 0
	sum, err := Scan(b.reader(), opts, func(it Item) error {
		defer func() { i++ }()
		if isLate[i] {
			return nil
		}
		for ; next < len(late) && late[next].Frame < it.Frame; next++ {
			if err := put(late[next].Entry); err != nil {
				return err
			}
		}
		return put(it.Entry)
	})
	for ; err == nil && next < len(late); next++ {
		err = put(late[next].Entry)
	}
	if err != nil {
		return // the client went away, or the same bytes read differently (cannot happen)
	}
	problems, conns := sum.Problems, sum.Conns
	if problems == nil {
		problems = []Problem{}
	}
	if conns == nil {
		conns = []Conn{}
	}
	pj, _ := json.Marshal(problems)
	cj, _ := json.Marshal(conns)
	out.WriteString(`],"problems":`)
	out.Write(pj)
	out.WriteString(`,"conns":`)
	out.Write(cj)
	out.WriteString("}\n")
	out.Flush()
}

func (h *handler) serveExport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, `POST {"entries":[…]}`)
		return
	}
	b, done, ok := h.readBody(w, r, h.opts.MaxExport, "entries")
	if !ok {
		return
	}
	defer done()

	// First pass: check the JSON and the limits, and learn the addresses
	// the entries state; nothing is written until it succeeds.
	out := &heldWriter{w: w}
	x, err := NewExporter(out, &ExportOptions{Start: time.Now()})
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	n := 0
	conns := map[string]bool{}
	err = eachEntry(b.reader(), func(e *trace.Entry) error {
		if n++; n > h.opts.MaxEntries {
			return &LimitError{What: "trace entries in the export", Limit: h.opts.MaxEntries}
		}
		if key := e.Leg + "|" + e.Conn; !conns[key] {
			if len(conns) == h.opts.MaxConns {
				return &LimitError{What: "connections in the export", Limit: h.opts.MaxConns}
			}
			conns[key] = true
		}
		x.Learn(e)
		return nil
	})
	if err != nil {
		if !limitError(w, err) {
			httpError(w, http.StatusBadRequest, err.Error())
		}
		return
	}
	conns = nil
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="lifeline.pcapng"`)
	out.open()
	err = eachEntry(b.reader(), func(e *trace.Entry) error {
		_, err := x.Write(e)
		return err
	})
	if err == nil {
		err = x.Flush()
	}
	if err == nil {
		out.Flush()
	}
}

// heldWriter keeps what is written until open, then writes through a
// buffer: the pcapng header waits until the export is known to succeed.
type heldWriter struct {
	w    io.Writer
	held []byte
	bw   *bufio.Writer
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.bw == nil {
		h.held = append(h.held, p...)
		return len(p), nil
	}
	return h.bw.Write(p)
}

func (h *heldWriter) open() {
	h.bw = bufio.NewWriterSize(h.w, 64<<10)
	h.bw.Write(h.held)
	h.held = nil
}

func (h *heldWriter) Flush() error {
	if h.bw == nil {
		return nil
	}
	return h.bw.Flush()
}

// eachEntry decodes {"entries":[…]} from r one entry at a time; other
// members are skipped.
func eachEntry(r io.Reader, fn func(*trace.Entry) error) error {
	dec := json.NewDecoder(r)
	bad := func(err error) error { return fmt.Errorf(`want {"entries":[…]}: %w`, err) }
	if t, err := dec.Token(); err != nil {
		return bad(err)
	} else if t != json.Delim('{') {
		return bad(fmt.Errorf("found %v", t))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		if t != "entries" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad(err)
			}
			continue
		}
		if t, err := dec.Token(); err != nil {
			return bad(err)
		} else if t == nil {
			continue // "entries": null
		} else if t != json.Delim('[') {
			return bad(fmt.Errorf("entries is %v, not a list", t))
		}
		for i := 0; dec.More(); i++ {
			var e trace.Entry
			if err := dec.Decode(&e); err != nil {
				return fmt.Errorf("entry %d: %w", i+1, err)
			}
			if err := fn(&e); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return bad(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return bad(err)
	}
	return nil
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
