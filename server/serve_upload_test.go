package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// TestServeSlowUploads: three uploads trickling a byte at a time do not
// starve a real import (they used to hold both import slots, so every
// other import got 503), and are cut with 408 after -upload-timeout.
func TestServeSlowUploads(t *testing.T) {
	pcap, err := os.ReadFile(testenv.Capture(t, "lifecycle-v311-qos1.pcapng"))
	if err != nil {
		t.Fatalf("the shared capture: %v", err)
	}
	const timeout = 4 * time.Second
	lines := startServe(t, "-embedded-broker", "off", "-upload-timeout", timeout.String())
	base := strings.TrimSuffix(lines["lifeline: serving "], "/")
	addr := strings.TrimPrefix(base, "http://")

	var status []chan string
	stop := make(chan struct{})
	defer close(stop)
	for _, path := range []string{"/api/import", "/api/import", "/api/export/pcapng"} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nContent-Length: 100000\r\n\r\n", path, addr, base)
		got := make(chan string, 1)
		go func() {
			line, _ := bufio.NewReader(conn).ReadString('\n')
			got <- strings.TrimSpace(line)
		}()
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					conn.Write([]byte{0})
				}
			}
		}()
		status = append(status, got)
	}
	time.Sleep(300 * time.Millisecond) // the three are in their bodies

	req, _ := http.NewRequest("POST", base+"/api/import", bytes.NewReader(pcap))
	req.Header.Set("Origin", base)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"mqtt.CONNECT"`)) {
		t.Fatalf("a real import while three uploads trickle: %d %.200s", resp.StatusCode, b)
	}
	for i, s := range status {
		select {
		case line := <-s:
			if !strings.Contains(line, " 408 ") {
				t.Errorf("trickling upload %d: %q, want 408", i, line)
			}
		case <-time.After(timeout + 30*time.Second):
			t.Errorf("trickling upload %d still open long after -upload-timeout %v", i, timeout)
		}
	}
}
