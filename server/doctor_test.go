package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/doctor"
)

func doctorCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"doctor", "-timeout", "5s"}, args...), &out, &errb)
	t.Logf("doctor %v:\n%s%s", args, out.String(), errb.String())
	return out.String(), err
}

// TestDoctorServe: `lifeline doctor` against `lifeline serve` itself: its
// /mqtt works (exit 0); told /ws it finds /mqtt, keeping ?broker=, and
// exits 1; -json says the same for scripts.
func TestDoctorServe(t *testing.T) {
	lines := startServe(t, "-embedded-broker", "127.0.0.1:0")
	host := strings.TrimPrefix(strings.TrimSuffix(lines["lifeline: serving "], "/"), "http://")
	broker := strings.TrimPrefix(lines["lifeline: embedded broker "], "mqtt://")

	out, err := doctorCmd(t, "ws://"+host+"/mqtt?broker="+broker)
	if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	for _, want := range []string{"[ ok ] WebSocket upgrade on /mqtt?broker=" + broker, "[ ok ] MQTT 5.0 CONNECT/CONNACK", "[ ok ] QoS 1 round trip", "works: ws://" + host} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	out, err = doctorCmd(t, "ws://"+host+"/ws?broker="+broker)
	var st exitStatus
	if !errors.As(err, &st) || st != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	use := "ws://" + host + "/mqtt?broker=" + broker + " with subprotocol mqtt"
	for _, want := range []string{"[FAIL] WebSocket upgrade on /ws?broker=", "404 Not Found", "fix: use ws://" + host + "/mqtt?broker=" + broker,
		"does not work as given (upgrade); works as " + use} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// A name: what the DNS server (the embedded zone) answered for A and AAAA.
	zone := strings.TrimPrefix(strings.Fields(lines["lifeline: embedded DNS zone "])[2], "udp://")
	_, port, _ := strings.Cut(broker, ":")
	out, err = doctorCmd(t, "-nameserver", zone, "mqtt://broker.lifeline.test:"+port)
	if err != nil {
		t.Fatalf("doctor: %v", err)
	}
	for _, want := range []string{"[ ok ] DNS lookup of broker.lifeline.test", "NOERROR A broker.lifeline.test.: 127.0.0.1", "NOERROR AAAA broker.lifeline.test.: no records",
		"connected to 127.0.0.1:" + port} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	_, err = doctorCmd(t, "-nameserver", zone, "mqtt://nowhere.lifeline.test:"+port)
	if !errors.As(err, &st) || st != 1 {
		t.Fatalf("an unknown name: %v, want exit status 1", err)
	}

	out, err = doctorCmd(t, "-json", "ws://"+host+"/ws?broker="+broker)
	if !errors.As(err, &st) || st != 1 {
		t.Fatalf("exit %v, want status 1", err)
	}
	var rep doctor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Works || rep.Use != use || len(rep.Checks) < 8 {
		t.Errorf("report %+v", rep)
	}
}

// TestDoctorBadInput: usage errors are not exit status 1 (main exits 2).
func TestDoctorBadInput(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ws://h:0/"}, "port 0 is out of range"},
		{[]string{"telnet://h/"}, `unknown scheme "telnet"`},
		{[]string{"ws://h/%zz"}, "invalid URL escape"},
		{[]string{}, "one URL expected"},
		{[]string{"-cacert", "/nonexistent.pem", "wss://h/"}, "no such file"},
	} {
		_, err := doctorCmd(t, tt.args...)
		var st exitStatus
		if err == nil || errors.As(err, &st) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("doctor %v: %v, want %q", tt.args, err, tt.want)
		}
	}
}
