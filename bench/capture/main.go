// Command capture-bench times capture import against tshark on the same
// capture: one recorded by dumpcap while mosquitto_pub clients publish many
// QoS 1 messages through Debian's mosquitto to a mosquitto_sub, in the
// private network namespaces of scripts/make-captures.sh (its bench mode;
// root needed), or the capture given with -file. Then it runs, each as its
// own process so that peak memory is measured apart,
//
//	lifeline's import:  capture.Scan, printing each MQTT packet's type
//	                    (and capture.ReadTrace, the whole trace, as the
//	                    page's import does)
//	tshark:             tshark -r FILE -Y mqtt -T fields -e mqtt.msgtype
//
// prints wall time, peak RSS and the ratio, and fails when the two count a
// different number of MQTT packets. Run it with `make bench-capture`
// (MESSAGES=250000 by default).
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
	"github.com/lifeline-mqtt/lifeline/trace"
)

func main() {
	messages := flag.Int("messages", 250_000, "QoS 1 messages to record (each is 4 MQTT packets: PUBLISH and PUBACK on both legs)")
	conns := flag.Int("conns", 10, "publishing connections they are spread over")
	file := flag.String("file", "", "read this capture instead of recording one")
	keep := flag.String("keep", "", "record into this file and keep it (default: a temporary file, removed after)")
	script := flag.String("script", "scripts/make-captures.sh", "the recording script (run from the repository root)")
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
	if err := bench(*messages, *conns, *file, *keep, *script); err != nil {
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

func bench(messages, conns int, file, keep, script string) error {
	if file == "" {
		file = keep
		if file == "" {
			dir, err := os.MkdirTemp("", "bench-capture")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			file = filepath.Join(dir, "bench.pcapng")
		}
		start := time.Now()
		cmd := exec.Command("bash", script, "bench", file, strconv.Itoa(messages), strconv.Itoa(conns))
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("recording with %s: %w", script, err)
		}
		fmt.Printf("recorded by dumpcap in %v\n", time.Since(start).Round(time.Second))
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	fmt.Printf("capture: %s, %.1f MB\n", file, float64(st.Size())/1e6)

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
	if ours.lines != theirCount || collected.lines != theirCount {
		return fmt.Errorf("MQTT packet counts differ: lifeline %d (Scan), %d (ReadTrace), tshark %d", ours.lines, collected.lines, theirCount)
	}
	if theirCount == 0 {
		return fmt.Errorf("no MQTT packets in %s", file)
	}
	return nil
}
