package testenv

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestCaptures(t *testing.T) {
	var names []string
	for _, f := range Captures(t) {
		names = append(names, filepath.Base(f))
	}
	want := "lifecycle-v311-qos1.pcapng lifecycle-v311-qos2.pcapng lifecycle-v5-qos1.pcapng"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("captures %q, want %q", got, want)
	}
	if p := Capture(t, "lifecycle-v5-qos1.pcapng"); filepath.Base(filepath.Dir(p)) != "captures" {
		t.Errorf("Capture: %s", p)
	}
}

func TestLookToolMissing(t *testing.T) {
	_, err := LookTool("lifeline-no-such-program")
	if err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Errorf("LookTool of a missing program: %v, want an error naming make deps", err)
	}
	if _, err := LookTool("tshark"); err != nil {
		t.Errorf("tshark: %v", err)
	}
}

func TestStartMosquitto(t *testing.T) {
	m := StartMosquitto(t, MosquittoOptions{})
	c, err := net.Dial("tcp", m.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// CONNECT 3.1.1, clean session, keepalive 60, client id "t".
	if _, err := c.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 't'}); err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	if _, err := c.Read(b[:]); err != nil || b != [4]byte{0x20, 2, 0, 0} {
		t.Fatalf("CONNACK %x, %v; want 20020000\n%s", b, err, m.Log())
	}
}
