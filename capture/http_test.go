package capture

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

func TestHandler(t *testing.T) {
	file := testenv.Capture(t, "lifecycle-v311-qos1.pcapng")
	pcap, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(HandlerOptions{MaxImport: int64(len(pcap)), MaxExport: 1 << 20}))
	defer srv.Close()
	post := func(path, ctype string, body []byte) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, ctype, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	resp, body := post("/api/import", "application/octet-stream", pcap)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("import: %s %s", resp.Status, body)
	}
	var got Result
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := readLifecycle(t)
	sameEntries(t, got.Entries, want.Entries)
	if !strings.Contains(string(body), `"problems":[]`) || len(got.Conns) != 3 {
		t.Errorf("import JSON lacks problems or conns: %.200s…", body)
	}

	req, _ := json.Marshal(map[string]any{"entries": got.Entries})
	resp, pcapng := post("/api/export/pcapng", "application/json", req)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.tcpdump.pcap" {
		t.Fatalf("export: %s %s", resp.Status, pcapng)
	}
	back, err := ReadTrace(bytes.NewReader(pcapng))
	if err != nil {
		t.Fatal(err)
	}
	// Exported at the time of the request: times are relative anyway.
	sameEntries(t, back.Entries, want.Entries)

	for _, c := range []struct {
		name, method, path string
		body               []byte
		code               int
	}{
		{"import not a capture", "POST", "/api/import", []byte("hello"), 400},
		{"import too large", "POST", "/api/import", append(pcap, 0), 413},
		{"import GET", "GET", "/api/import", nil, 405},
		{"export bad JSON", "POST", "/api/export/pcapng", []byte("{"), 400},
		{"export too large", "POST", "/api/export/pcapng", bytes.Repeat([]byte(" "), 1<<20+1), 413},
		{"export GET", "GET", "/api/export/pcapng", nil, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, bytes.NewReader(c.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct{ Error string }
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != c.code || e.Error == "" {
				t.Errorf("%s %s: %s %q, want %d with an error message", c.method, c.path, resp.Status, e.Error, c.code)
			}
		})
	}
}
