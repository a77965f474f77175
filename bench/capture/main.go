// Command capture-bench times capture import against tshark on the same
// file: it writes a pcapng of many MQTT connections with Lifeline's
// exporter, then runs, each as its own process so that peak memory is
// measured apart,
//
//	lifeline's import:  capture.Scan, printing each MQTT packet's type
//	tshark:             tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype
//
// and prints wall time, peak RSS and the ratio. Run it with
// `make bench-capture` (PACKETS=1000000 by default).
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func main() {
	packets := flag.Int("packets", 1_000_000, "MQTT packets in the generated capture")
	conns := flag.Int("conns", 100, "connections they are spread over")
	file := flag.String("file", "", "capture to write and read (default: a temporary file, removed after)")
	importOnly := flag.String("import", "", "internal: import FILE, print each MQTT packet's type")
	collect := flag.Bool("collect", false, "internal, with -import: collect the whole trace (ReadTrace) instead of streaming")
	flag.Parse()
	if *importOnly != "" {
		if err := doImport(*importOnly, *collect); err != nil {
			fmt.Fprintln(os.Stderr, "import:", err)
			os.Exit(1)
		}
		return
	}
	if err := bench(*packets, *conns, *file); err != nil {
		fmt.Fprintln(os.Stderr, "bench-capture:", err)
		os.Exit(1)
	}
}

// doImport is what is timed: read the capture and print one line per MQTT
// packet with its type number, as tshark's field output does.
func doImport(name string, collect bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer w.Flush()
	line := func(e *trace.Entry) {
		if strings.HasPrefix(e.Kind, "mqtt.") {
			w.WriteString(strconv.Itoa(int(e.Bytes[0] >> 4)))
			w.WriteByte('\n')
		}
	}
	if collect {
		res, err := capture.ReadTrace(f)
		if err != nil {
			return err
		}
		for i := range res.Entries {
			line(&res.Entries[i])
		}
		return nil
	}
	_, err = capture.Scan(f, capture.Options{}, func(it capture.Item) error {
		line(&it.Entry)
		return nil
	})
	return err
}

// generate writes n MQTT packets over conns connections: each connects,
// publishes QoS 1 readings (PUBLISH and PUBACK), pings and disconnects.
func generate(name string, n, conns int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	x, err := capture.NewExporter(f, &capture.ExportOptions{Start: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), NoComments: true})
	if err != nil {
		return err
	}
	t := 0.0
	write := func(e trace.Entry) error {
		t += 0.01
		e.T = t
		_, err := x.Write(&e)
		return err
	}
	perConn := n / conns
	for c := 0; c < conns; c++ {
		id := "c" + strconv.Itoa(c+1)
		dev := "device-" + strconv.Itoa(c)
		up := func(kind string, b []byte) error {
			return write(trace.Entry{Leg: trace.LegClientBroker, From: dev, To: "broker", Kind: kind, Bytes: b, Conn: id})
		}
		down := func(kind string, b []byte) error {
			return write(trace.Entry{Leg: trace.LegClientBroker, From: "broker", To: dev, Kind: kind, Bytes: b, Conn: id})
		}
		pkt := func(p codec.Packet) []byte {
			b, err := codec.AppendPacket(nil, p, codec.V311)
			if err != nil {
				panic(err)
			}
			return b
		}
		if err := up("mqtt.CONNECT", pkt(&codec.Connect{Version: codec.V311, ClientID: dev, KeepAlive: 60, CleanStart: true})); err != nil {
			return err
		}
		if err := down("mqtt.CONNACK", pkt(&codec.Connack{})); err != nil {
			return err
		}
		sent := 2
		for i := 1; sent+2 <= perConn-2; i++ {
			id := uint16(i%65535 + 1)
			payload := []byte(strconv.Itoa(20+i%10) + ".5")
			if err := up("mqtt.PUBLISH", pkt(&codec.Publish{Topic: "t/" + strconv.Itoa(c), QoS: 1, PacketID: id, Payload: payload})); err != nil {
				return err
			}
			if err := down("mqtt.PUBACK", pkt(&codec.Puback{PacketID: id})); err != nil {
				return err
			}
			sent += 2
		}
		if err := up("mqtt.PINGREQ", pkt(&codec.Pingreq{})); err != nil {
			return err
		}
		if err := up("mqtt.DISCONNECT", pkt(&codec.Disconnect{})); err != nil {
			return err
		}
		if err := write(trace.Entry{Leg: trace.LegClientBroker, From: dev, To: "broker", Kind: trace.KindTCPFin, Conn: id}); err != nil {
			return err
		}
	}
	return x.Flush()
}

type result struct {
	wall  time.Duration
	rss   int64 // KiB
	lines int
	out   []byte
}

// measure runs a command, counting its output lines, and returns its wall
// time and peak resident memory.
func measure(name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	r := result{wall: time.Since(start), out: out.Bytes()}
	if err != nil {
		return r, fmt.Errorf("%s: %v\n%s", name, err, errb.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rss = ru.Maxrss
	}
	r.lines = bytes.Count(out.Bytes(), []byte("\n"))
	return r, nil
}

func bench(n, conns int, file string) error {
	if file == "" {
		dir, err := os.MkdirTemp("", "bench-capture")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		file = filepath.Join(dir, "bench.pcapng")
	}
	start := time.Now()
	if err := generate(file, n, conns); err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Printf("capture: %s, %.1f MB, written in %v by capture.Exporter\n", file, float64(st.Size())/1e6, time.Since(start).Round(time.Millisecond))

	self, err := os.Executable()
	if err != nil {
		return err
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		return fmt.Errorf("tshark is not installed (run `make deps`): %w", err)
	}
	ours, err := measure(self, "-import", file)
	if err != nil {
		return err
	}
	collected, err := measure(self, "-import", file, "-collect")
	if err != nil {
		return err
	}
	theirs, err := measure(tshark, "-r", file, "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype")
	if err != nil {
		return err
	}
	// tshark prints one line per frame, several types joined by commas.
	theirCount := bytes.Count(theirs.out, []byte("\n")) + bytes.Count(theirs.out, []byte(","))
	fmt.Printf("%-44s %10s %12s %12s\n", "", "wall", "peak RSS", "MQTT pkts")
	row := func(name string, r result, count int) {
		fmt.Printf("%-44s %10v %9.1f MB %12d\n", name, r.wall.Round(time.Millisecond), float64(r.rss)/1024, count)
	}
	row("lifeline import (capture.Scan, streaming)", ours, ours.lines)
	row("lifeline import (capture.ReadTrace, whole)", collected, collected.lines)
	row("tshark -Y mqtt -T fields -e mqtt.msgtype", theirs, theirCount)
	fmt.Printf("ratio tshark/lifeline (streaming): %.1fx faster, %.1fx less memory\n",
		theirs.wall.Seconds()/ours.wall.Seconds(), float64(theirs.rss)/float64(ours.rss))
	if ours.lines != theirCount {
		fmt.Printf("WARNING: packet counts differ: lifeline %d, tshark %d\n", ours.lines, theirCount)
	}
	return nil
}
