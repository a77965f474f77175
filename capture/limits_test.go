package capture

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// peakHeap runs fn and returns how far the heap's objects grew above what
// they were before it (sampled every millisecond: the collector's slack
// is part of what a server pays).
func peakHeap(t *testing.T, fn func()) (peak uint64) {
	t.Helper()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > base && v-base > peak {
				peak = v - base
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak
}

// postFlood posts the body gen writes, made as it is sent so that the
// test holds no copy of it (a remote client's bytes would not be in the
// server's heap either), and returns the body's size, the status, the
// response's first bytes and its length; the response is read and dropped
// as it comes, like a client saving it would.
func postFlood(t *testing.T, url, ctype string, gen func(w io.Writer)) (size, code int, head string, n int64) {
	t.Helper()
	pr, pw := io.Pipe()
	cw := &countWriter{w: pw}
	done := make(chan struct{})
	go func() {
		defer close(done)
		bw := bufio.NewWriter(cw)
		gen(bw)
		pw.CloseWithError(bw.Flush())
	}()
	defer func() {
		pr.Close() // a generator the server stopped reading stops too
		<-done
		size = cw.n
	}()
	resp, err := http.Post(url, ctype, pr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, _ := br.Peek(300)
	head = string(first)
	n, err = io.Copy(io.Discard, br)
	if err != nil {
		t.Fatal(err)
	}
	return size, resp.StatusCode, head, n
}

type countWriter struct {
	w io.Writer
	n int
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// budget is the memory an import or export may use: a small multiple of
// its body, plus a constant for the scanner's tables and buffers.
const (
	budgetMultiple = 3
	budgetConst    = 32 << 20
)

func checkBudget(t *testing.T, what string, input int, peak uint64) {
	t.Helper()
	limit := uint64(budgetMultiple*input + budgetConst)
	t.Logf("%s: %.1f MB in, heap grew %.1f MB (%.1f× the input; budget %.1f MB)",
		what, float64(input)/1e6, float64(peak)/1e6, float64(peak)/float64(input), float64(limit)/1e6)
	if peak > limit {
		t.Errorf("%s: heap grew %d bytes for a %d-byte body, over %d× the body + %d MiB", what, peak, input, budgetMultiple, budgetConst>>20)
	}
}

// interfaceFlood is a pcapng file of n 20-byte interface description
// blocks (the 20 MB of a million blocks).
func interfaceFlood(n int) []byte {
	var b bytes.Buffer
	writeInterfaceFlood(&b, n)
	return b.Bytes()
}

func writeInterfaceFlood(w io.Writer, n int) {
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, 0x0a0d0d0a)
	b = le.AppendUint32(b, 28)
	b = le.AppendUint32(b, 0x1a2b3c4d)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint64(b, ^uint64(0))
	b = le.AppendUint32(b, 28)
	w.Write(b)
	for range n {
		b = le.AppendUint32(b[:0], 1)
		b = le.AppendUint32(b, 20)
		b = le.AppendUint16(b, 1) // Ethernet
		b = le.AppendUint16(b, 0)
		b = le.AppendUint32(b, 65535)
		b = le.AppendUint32(b, 20)
		w.Write(b)
	}
}

// connectionFlood is a capture of n short MQTT connections, one a
// millisecond (all within TCP's linger): handshake, CONNECT, CONNACK and
// both FINs, 8 frames each (5 and no FINs when open).
func connectionFlood(t *testing.T, n int) []byte { return connections(t, n, false) }

func connections(t *testing.T, n int, open bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeConnections(&buf, n, open); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeConnections(w io.Writer, n int, open bool) error {
	x, err := NewExporter(w, &ExportOptions{NoComments: true})
	if err != nil {
		return err
	}
	connect := []byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 2, 'd', '1'}
	for c := range n {
		from := fmt.Sprintf("10.%d.%d.%d:%d", c>>16&0xff, c>>8&0xff, c&0xff, 40000+c%20000)
		const to = "192.0.2.1:1883"
		conn := "c" + fmt.Sprint(c)
		for i, e := range []trace.Entry{
			{From: from, To: to, Kind: trace.KindTCPSyn},
			{From: to, To: from, Kind: trace.KindTCPSynAck},
			{From: from, To: to, Kind: trace.KindTCPAck},
			{From: from, To: to, Kind: "mqtt.CONNECT", Bytes: connect},
			{From: to, To: from, Kind: "mqtt.CONNACK", Bytes: []byte{0x20, 2, 0, 0}},
			{From: from, To: to, Kind: trace.KindTCPFin},
			{From: to, To: from, Kind: trace.KindTCPFin},
			{From: from, To: to, Kind: trace.KindTCPAck},
		} {
			if open && i >= 5 {
				break
			}
			e.T, e.Leg, e.Conn = float64(c)+float64(i)/10, trace.LegClientBroker, conn
			if _, err := x.Write(&e); err != nil {
				return err
			}
		}
	}
	return x.Flush()
}

// exportFlood is {"entries":[…]} of n tiny PINGREQ entries on one
// connection.
func exportFlood(n int) []byte {
	var b bytes.Buffer
	writeExportFlood(&b, n)
	return b.Bytes()
}

func writeExportFlood(b io.Writer, n int) {
	io.WriteString(b, `{"entries":[`)
	for i := range n {
		if i > 0 {
			io.WriteString(b, ",")
		}
		io.WriteString(b, `{"kind":"mqtt.PINGREQ","from":"device","to":"broker","leg":"client-broker","bytes":"wAA="}`)
	}
	io.WriteString(b, "]}")
}

// TestImportExportFloods sends the floods, built here, through the
// handler: each is either refused in words or served within a small
// multiple of its size.
func TestImportExportFloods(t *testing.T) {
	srv := httptest.NewServer(Handler(HandlerOptions{}))
	defer srv.Close()

	t.Run("a million interface blocks", func(t *testing.T) {
		var size, code int
		var head string
		peak := peakHeap(t, func() {
			size, code, head, _ = postFlood(t, srv.URL+"/api/import", "application/octet-stream", func(w io.Writer) { writeInterfaceFlood(w, 1_000_000) })
		})
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(head, "more than 1024 pcapng interface blocks") {
			t.Errorf("got %d %s, want 413 saying more than 1024 pcapng interface blocks", code, head)
		}
		checkBudget(t, "interface blocks", size, peak)
	})

	t.Run("tiny connections", func(t *testing.T) {
		var size, code int
		var head string
		var n int64
		peak := peakHeap(t, func() {
			size, code, head, n = postFlood(t, srv.URL+"/api/import", "application/octet-stream", func(w io.Writer) {
				if err := writeConnections(w, 30_000, false); err != nil { // 240,000 frames
					t.Error(err)
				}
			})
		})
		if code != http.StatusOK || !strings.HasPrefix(head, `{"entries":[{"seq":1,`) {
			t.Fatalf("got %d %.200s", code, head)
		}
		checkBudget(t, fmt.Sprintf("%d connections (%d bytes of JSON out)", 30_000, n), size, peak)
	})

	t.Run("tiny export entries", func(t *testing.T) {
		var size, code int
		var n int64
		peak := peakHeap(t, func() {
			size, code, _, n = postFlood(t, srv.URL+"/api/export/pcapng", "application/json", func(w io.Writer) { writeExportFlood(w, 400_000) })
		})
		if code != http.StatusOK || n < 400_000*60 {
			t.Fatalf("got %d with %d bytes, want 200 with a frame per entry", code, n)
		}
		checkBudget(t, fmt.Sprintf("export (%d bytes of pcapng out)", n), size, peak)
	})
}

// TestHandlerLimits: each bound refuses in a sentence that names it, or
// (connections in an import) says it as a problem and reads the rest.
func TestHandlerLimits(t *testing.T) {
	srv := httptest.NewServer(Handler(HandlerOptions{MaxEntries: 100, MaxConns: 5, MaxInterfaces: 3}))
	defer srv.Close()
	open := connections(t, 8, true)
	manyConns := func() []byte {
		var b bytes.Buffer
		b.WriteString(`{"entries":[`)
		for i := range 6 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"kind":"mqtt.PINGREQ","from":"device","to":"broker","leg":"client-broker","conn":"c%d","bytes":"wAA="}`, i)
		}
		b.WriteString("]}")
		return b.Bytes()
	}()
	for _, c := range []struct {
		name, path string
		body       []byte
		code       int
		want       string
	}{
		{"interface blocks", "/api/import", interfaceFlood(4), 413, "more than 3 pcapng interface blocks"},
		{"import entries", "/api/import", connectionFlood(t, 13), 413, "more than 100 trace entries in the capture"},
		{"export entries", "/api/export/pcapng", exportFlood(101), 413, "more than 100 trace entries in the export"},
		{"export connections", "/api/export/pcapng", manyConns, 413, "more than 5 connections in the export"},
		{"import connections", "/api/import", open, 200, "more than 5 TCP connections open at once"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+c.path, "application/octet-stream", bytes.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(b), c.want) {
				t.Errorf("got %d %.300s, want %d saying %q", resp.StatusCode, b, c.code, c.want)
			}
		})
	}
}

// TestImportStreamedAsReadTrace: the streamed import is ReadTrace's
// result, byte for byte, including entries held until their connection
// was recognised (MQTT on a port other than 1883).
func TestImportStreamedAsReadTrace(t *testing.T) {
	srv := httptest.NewServer(Handler(HandlerOptions{}))
	defer srv.Close()
	files := testenv.Captures(t)
	var onOtherPort bytes.Buffer
	x, err := NewExporter(&onOtherPort, &ExportOptions{NoComments: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range []trace.Entry{
		{From: "10.0.0.1:5000", To: "10.0.0.2:9000", Kind: trace.KindTCPSyn},
		{From: "10.0.0.2:9000", To: "10.0.0.1:5000", Kind: trace.KindTCPSynAck},
		{From: "10.0.0.1:5000", To: "10.0.0.2:9000", Kind: trace.KindTCPAck},
		{From: "10.0.0.3:5000", To: "10.0.0.2:1883", Kind: trace.KindTCPSyn, Conn: "x"},
		{From: "10.0.0.1:5000", To: "10.0.0.2:9000", Kind: "mqtt.CONNECT", Bytes: []byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 2, 'd', '1'}},
	} {
		e.T, e.Leg = float64(i), trace.LegClientBroker
		if _, err := x.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	x.Flush()
	inputs := map[string][]byte{"mqtt on port 9000": onOtherPort.Bytes()}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs[filepath.Base(f)] = b
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			want, err := ReadTrace(bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			wantJSON, _ := json.Marshal(want)
			resp, err := http.Post(srv.URL+"/api/import", "application/octet-stream", bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(bytes.TrimSpace(got)) != string(wantJSON) {
				t.Errorf("streamed import differs from ReadTrace:\n got %.400s\nwant %.400s", got, wantJSON)
			}
		})
	}
	// The port-9000 capture does have an entry that came out late.
	late := 0
	Scan(bytes.NewReader(onOtherPort.Bytes()), Options{}, func(it Item) error {
		if it.Frame < 4 && it.Entry.Kind == trace.KindTCPSyn && it.Entry.From == "10.0.0.1:5000" {
			late++
		}
		return nil
	})
	if late != 1 {
		t.Errorf("the test capture's first SYN was seen %d times, want once (held, then given late)", late)
	}
}

// trickle opens a connection that sends an upload's headers, then one
// byte of its body every interval until stop is closed; it returns the
// status line the server answered with, if any.
func trickle(t *testing.T, addr, path string, interval time.Duration, stop chan struct{}) <-chan string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	status := make(chan string, 1)
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n", path, addr)
	go func() {
		defer conn.Close()
		got := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(conn).ReadString('\n')
			got <- strings.TrimSpace(line)
		}()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				status <- ""
				return
			case s := <-got:
				status <- s
				return
			case <-tick.C:
				conn.Write([]byte{0x0a})
			}
		}
	}()
	return status
}

// TestSlowUploads: uploads that trickle do not hold the workers (a real
// import succeeds while three trickle), and are cut with 408 once the body
// timeout passes.
func TestSlowUploads(t *testing.T) {
	pcap, err := os.ReadFile(testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 4 * time.Second
	srv := httptest.NewServer(Handler(HandlerOptions{BodyTimeout: timeout}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	stop := make(chan struct{})
	defer close(stop)
	var slow []<-chan string
	for _, path := range []string{"/api/import", "/api/import", "/api/export/pcapng"} {
		slow = append(slow, trickle(t, addr, path, 100*time.Millisecond, stop))
	}
	time.Sleep(300 * time.Millisecond) // all three are in their bodies
	start := time.Now()
	resp, err := http.Post(srv.URL+"/api/import", "application/octet-stream", bytes.NewReader(pcap))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"mqtt.CONNECT"`)) {
		t.Fatalf("a real import while three uploads trickle: %d %.200s", resp.StatusCode, b)
	}
	if elapsed := time.Since(start); elapsed >= timeout {
		t.Errorf("the real import took %v, as long as the body timeout: it waited for the trickling uploads", elapsed)
	}
	for i, s := range slow {
		select {
		case line := <-s:
			if !strings.Contains(line, "408") {
				t.Errorf("trickling upload %d: %q, want 408", i, line)
			}
		case <-time.After(timeout + 30*time.Second):
			t.Errorf("trickling upload %d still open long after the %v body timeout", i, timeout)
		}
	}
}

// TestInterfaceBlockLimit: Scan counts a pcapng's interface blocks in
// either byte order, across sections, and stops past the limit with a
// *LimitError; at the limit it reads the file.
func TestInterfaceBlockLimit(t *testing.T) {
	section := func(order binary.AppendByteOrder, interfaces int) []byte {
		var b []byte
		b = order.AppendUint32(b, 0x0a0d0d0a)
		b = order.AppendUint32(b, 28)
		b = order.AppendUint32(b, 0x1a2b3c4d)
		b = order.AppendUint16(b, 1)
		b = order.AppendUint16(b, 0)
		b = order.AppendUint64(b, ^uint64(0))
		b = order.AppendUint32(b, 28)
		for range interfaces {
			b = order.AppendUint32(b, 1)
			b = order.AppendUint32(b, 20)
			b = order.AppendUint16(b, 1)
			b = order.AppendUint16(b, 0)
			b = order.AppendUint32(b, 65535)
			b = order.AppendUint32(b, 20)
		}
		return b
	}
	le, be := binary.LittleEndian, binary.BigEndian
	for _, c := range []struct {
		name string
		file []byte
		over bool
	}{
		{"little-endian at the limit", section(le, 3), false},
		{"little-endian over", section(le, 4), true},
		{"big-endian at the limit", section(be, 3), false},
		{"big-endian over", section(be, 4), true},
		{"two sections over", append(section(be, 2), section(le, 2)...), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Whole, and a byte per read (block headers split across reads).
			for _, r := range []io.Reader{bytes.NewReader(c.file), iotest.OneByteReader(bytes.NewReader(c.file))} {
				_, err := Scan(r, Options{MaxInterfaces: 3}, func(Item) error { return nil })
				var le *LimitError
				if got := errors.As(err, &le); got != c.over {
					t.Errorf("Scan: %v, want a *LimitError: %v", err, c.over)
				}
				if !c.over && err != nil {
					t.Errorf("Scan: %v", err)
				}
			}
		})
	}
}
