package capture

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// startCapture starts dumpcap on the loopback interface for the given
// ports and returns a function that stops it and returns the file. The
// capture also ends by itself after a minute.
func startCapture(t *testing.T, pcap bool, ports ...int) (stop func() string) {
	t.Helper()
	bin := need(t, "dumpcap")
	var filter []string
	for _, p := range ports {
		filter = append(filter, "port "+strconv.Itoa(p))
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	file := filepath.Join(dir, "capture.pcapng")
	args := []string{"-q", "-i", "lo", "-f", strings.Join(filter, " or "), "-a", "duration:60", "-w", file}
	if pcap {
		file = strings.TrimSuffix(file, "ng")
		args = append(args[:len(args)-1], file, "-P")
	}
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	var log bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "Capturing on") {
				ready <- ""
				sent = true
			}
		}
		if !sent {
			ready <- log.String()
		}
		close(ready)
	}()
	select {
	case msg := <-ready:
		if msg != "" {
			cmd.Wait()
			t.Fatalf("dumpcap did not start: %s", msg)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("dumpcap did not start within 15s")
	}
	// dumpcap reports "Capturing on" a little before the first packets
	// reach it.
	time.Sleep(time.Second)
	stopped := false
	stopFn := func() string {
		if stopped {
			return file
		}
		stopped = true
		time.Sleep(300 * time.Millisecond) // let the last segments reach the capture
		cmd.Process.Signal(os.Interrupt)
		for range ready {
		}
		if err := cmd.Wait(); err != nil {
			t.Logf("dumpcap: %v\n%s", err, log.String())
		}
		return file
	}
	t.Cleanup(func() { stopFn() })
	return stopFn
}

// run runs a client program and fails the test if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, need(t, name), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// TestLoopbackMosquitto captures real sessions between mosquitto_pub,
// mosquitto_sub and mosquitto on a port other than 1883, and checks the
// import against tshark, then against itself after resegmenting.
func TestLoopbackMosquitto(t *testing.T) {
	for _, c := range []struct {
		name    string
		version string
		pcap    bool
		props   []string
	}{
		{"v5-qos2-properties", "mqttv5", false, []string{"-D", "publish", "user-property", "a", "b",
			"-D", "publish", "message-expiry-interval", "60", "-D", "connect", "session-expiry-interval", "30"}},
		{"v311-qos2-pcap", "mqttv311", true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := testenv.StartMosquitto(t, testenv.MosquittoOptions{}).Port
			stop := startCapture(t, c.pcap, port)
			p := strconv.Itoa(port)
			pub := append([]string{"-h", "127.0.0.1", "-p", p, "-V", c.version, "-q", "2", "-r", "-i", "lifeline-pub",
				"-t", "lifeline/test", "-m", strings.Repeat("reading ", 40)}, c.props...)
			run(t, "mosquitto_pub", pub...)
			run(t, "mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-V", c.version, "-q", "2", "-i", "lifeline-sub",
				"-t", "lifeline/test", "-C", "1", "-W", "10")
			file := stop()

			items, sum := scanFile(t, file)
			if len(sum.Problems) > 0 {
				t.Errorf("problems: %v", sum.Problems)
			}
			kinds := map[string]int{}
			for _, it := range items {
				kinds[it.Entry.Kind]++
			}
			for k, n := range map[string]int{"mqtt.PUBREC": 2, "mqtt.PUBREL": 2, "mqtt.PUBCOMP": 2, "tcp.syn": 2, "tcp.synack": 2,
				"tcp.fin": 4} { // both sides of both connections close
				if kinds[k] != n {
					t.Errorf("%d %s entries, want %d", kinds[k], k, n)
				}
			}
			ids := []string{}
			for _, cn := range sum.Conns {
				ids = append(ids, cn.ClientID)
			}
			if strings.Join(ids, ",") != "lifeline-pub,lifeline-sub" {
				t.Errorf("client ids %v", ids)
			}
			checkAgainstTshark(t, file, items, []string{"tcp.port==" + p + ",mqtt"})
			checkDNSAndHandshakes(t, file, items, sum)
			checkResegmented(t, file)
		})
	}
}

// TestLoopbackWebSocket captures MQTT over WebSocket with mosquitto's
// websockets listener. The test's own client splits a packet over two
// frames, puts two packets in one frame, and cuts a frame over TCP
// writes.
func TestLoopbackWebSocket(t *testing.T) {
	wsPort := testenv.FreePort(t)
	testenv.StartMosquitto(t, testenv.MosquittoOptions{
		Extra:     fmt.Sprintf("listener %d 127.0.0.1\nprotocol websockets\nallow_anonymous true", wsPort),
		WaitPorts: []int{wsPort},
	})
	stop := startCapture(t, false, wsPort)

	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(wsPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", wsPort, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	connect := []byte{0x10, 0x13, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 30, 0, 0, 6, 'w', 's', '-', 'd', 'e', 'v'}
	connect[1] = byte(len(connect) - 2)
	send := func(op byte, payload []byte, chunks ...int) {
		f := wsFrame(nil, op, payload, true, 0x01020304)
		if op == 0x0 || (op == 0x2 && payload[0] == 0x10 && len(payload) < len(connect)) {
			f[0] &^= 0x80 // not the final fragment
		}
		for _, n := range chunks { // several TCP writes for one frame
			c.Write(f[:n])
			f = f[n:]
			time.Sleep(20 * time.Millisecond)
		}
		c.Write(f)
		time.Sleep(20 * time.Millisecond)
	}
	// CONNECT over two frames (a fragmented message), the first cut in
	// two TCP writes.
	send(0x2, connect[:7], 3)
	f := wsFrame(nil, 0x0, connect[7:], true, 0x0a0b0c0d)
	c.Write(f)
	readFrame := func() []byte {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatal(err)
		}
		n := int(h[1] & 0x7f)
		if n == 126 {
			var l [2]byte
			io.ReadFull(br, l[:])
			n = int(binary.BigEndian.Uint16(l[:]))
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if b := readFrame(); len(b) == 0 || b[0] != 0x20 {
		t.Fatalf("CONNACK expected, got % x", b)
	}
	// SUBSCRIBE and a QoS 2 PUBLISH in one frame.
	sub := []byte{0x82, 0, 0, 1, 0, 0, 4, 'w', 's', '/', 't', 2}
	sub[1] = byte(len(sub) - 2)
	pub := []byte{0x34, 0, 0, 4, 'w', 's', '/', 't', 0, 2, 0}
	pub = append(pub, []byte("over websocket")...)
	pub[1] = byte(len(pub) - 2)
	send(0x2, append(append([]byte(nil), sub...), pub...))
	// SUBACK, PUBREC, then the broker's own PUBLISH of the message (its
	// order against PUBREC may vary); answer as a QoS 2 receiver and
	// sender would.
	gotPubrel, gotPubcomp := false, false
	for i := 0; i < 6 && !(gotPubrel && gotPubcomp); i++ {
		b := readFrame()
		switch b[0] >> 4 {
		case 5: // PUBREC from the broker for our publish
			send(0x2, []byte{0x62, 3, b[2], b[3], 0})
		case 3: // the broker's PUBLISH to us, QoS 2
			id := b[2+int(b[3])+2:][:2]
			send(0x2, []byte{0x50, 2, id[0], id[1]})
		case 6: // PUBREL for its publish
			send(0x2, []byte{0x70, 2, b[2], b[3]})
			gotPubrel = true
		case 7:
			gotPubcomp = true
		}
	}
	if !gotPubrel || !gotPubcomp {
		t.Fatal("QoS 2 exchange over WebSocket did not complete")
	}
	send(0x2, []byte{0xe0, 0})
	send(0x8, []byte{0x03, 0xe8})
	time.Sleep(100 * time.Millisecond)
	c.Close()
	file := stop()

	items, sum := scanFile(t, file)
	if len(sum.Problems) > 0 {
		t.Errorf("problems: %v", sum.Problems)
	}
	if len(sum.Conns) != 1 || !sum.Conns[0].WebSocket || sum.Conns[0].ClientID != "ws-dev" || sum.Conns[0].Version != 5 {
		t.Errorf("conns %+v, want one WebSocket connection of ws-dev, MQTT 5", sum.Conns)
	}
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it.Entry.Kind)
	}
	got := strings.Join(kinds, " ")
	for _, k := range []string{"ws.upgrade", "ws.accept", "mqtt.CONNECT", "mqtt.SUBSCRIBE", "mqtt.PUBREL", "mqtt.PUBCOMP", "mqtt.DISCONNECT", "ws.close"} {
		if !strings.Contains(got, k) {
			t.Errorf("no %s in %s", k, got)
		}
	}
	checkAgainstTshark(t, file, items, []string{"tcp.port==" + strconv.Itoa(wsPort) + ",http"})
	checkDNSAndHandshakes(t, file, items, sum)
	checkResegmented(t, file)
}

// wsFrame appends one final WebSocket frame; a client's is masked.
func wsFrame(dst []byte, op byte, payload []byte, masked bool, key uint32) []byte {
	dst = append(dst, 0x80|op)
	m := byte(0)
	if masked {
		m = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		dst = append(dst, m|byte(n))
	case n < 1<<16:
		dst = append(dst, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !masked {
		return append(dst, payload...)
	}
	var k [4]byte
	binary.BigEndian.PutUint32(k[:], key)
	dst = append(dst, k[:]...)
	for i, c := range payload {
		dst = append(dst, c^k[i&3])
	}
	return dst
}
