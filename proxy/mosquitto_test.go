package proxy_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/lifeline-mqtt/lifeline/trace"
)

// newMosquitto starts Debian's mosquitto on a free loopback port with a
// config file in a temporary directory, and stops it when the test ends.
func newMosquitto(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// mosquitto started as root drops to user mosquitto, which must read it.
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(dir), 0o755)
	return newMosquittoConf(t, dir, "")
}

// newMosquittoConf starts mosquitto with a config in dir that adds extra to
// its one loopback listener.
func newMosquittoConf(t *testing.T, dir, extra string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/mosquitto"); e != nil {
			t.Fatal("mosquitto is not installed (run `make deps`): ", err)
		}
		bin = "/usr/sbin/mosquitto"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n%s", port, extra)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stderr = testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case <-done:
			t.Fatalf("mosquitto exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Through the proxy to Debian's mosquitto, found by name in the zone: pub/sub
// at each QoS with Paho, and the trace of the subscriber's connection.
func TestPubSubMosquitto(t *testing.T) {
	addr := newMosquitto(t)
	_, port, _ := net.SplitHostPort(addr)
	e := privateEnv(t, nil)
	e.dns.Set("mosquitto.lifeline.test", netip.MustParseAddr("127.0.0.1"))
	target := "broker=mosquitto.lifeline.test:" + port
	tc := e.openTrace(t)
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			sub := newPaho(t, e.mqttURL(target+"&trace="+tc.token), fmt.Sprintf("msub%d", qos))
			pub := newPaho(t, e.mqttURL(target), fmt.Sprintf("mpub%d", qos))
			pubSub(t, pub, sub, fmt.Sprintf("lifeline/mosquitto/%d", qos), qos)
			sub.Disconnect(100)
			conn := "c" + strconv.Itoa(int(qos)+1)
			got := tc.waitFor(t, "ws.close of "+conn, func(en trace.Entry) bool {
				return en.Conn == conn && en.Kind == trace.KindWSClose && en.From == "proxy"
			})
			checkOrder(t, got, conn, "ws.upgrade", "dns.query", "dns.response", "tcp.syn", "tcp.synack", "tcp.ack", "ws.accept",
				"mqtt.CONNECT", "mqtt.CONNACK", "mqtt.SUBSCRIBE", "mqtt.SUBACK", "mqtt.PUBLISH", "mqtt.DISCONNECT", "tcp.fin")
		})
	}
}
