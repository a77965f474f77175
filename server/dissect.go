package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/capture"
	"github.com/lifeline-mqtt/lifeline/codec"
	"github.com/lifeline-mqtt/lifeline/expert"
	"github.com/lifeline-mqtt/lifeline/trace"
)

func init() { commands["dissect"] = runDissect }

// runDissect: lifeline dissect [-json] (FILE.pcap | FILE.pcapng | -hex HEX
// [-v 4|5]) — the field tree of every MQTT packet of a capture, or of one
// packet given in hex.
func runDissect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dissect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON: one object a line per packet (fields with name, value, offset, length, label)")
	hexIn := fs.String("hex", "", "dissect one packet given in hex (spaces and colons allowed) instead of a capture file")
	version := fs.Int("v", int(codec.DefaultVersion), "MQTT version for -hex: 4 (3.1.1) or 5 (a CONNECT carries its own)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lifeline dissect [-json] FILE.pcap|FILE.pcapng")
		fmt.Fprintln(stderr, "       lifeline dissect [-json] -hex HEX [-v 4|5]")
		fs.PrintDefaults()
	}
	// Flags may come after the file name too.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := envDefaults(fs); err != nil {
		return err
	}
	if *version != 4 && *version != 5 {
		return fmt.Errorf("dissect: -v must be 4 or 5, not %d", *version)
	}
	switch {
	case *hexIn != "" && len(files) == 0:
		return dissectHex(*hexIn, codec.Version(*version), *asJSON, stdout)
	case *hexIn == "" && len(files) == 1:
		return dissectFile(ctx, files[0], *asJSON, stdout, stderr)
	}
	fs.Usage()
	return errors.New("dissect: give one capture file or -hex")
}

func dissectHex(s string, v codec.Version, asJSON bool, stdout io.Writer) error {
	s = strings.NewReplacer(" ", "", ":", "", "\n", "", "\t", "").Replace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("dissect: -hex: %w", err)
	}
	t := codec.Dissect(b, v)
	if asJSON {
		err = json.NewEncoder(stdout).Encode(t)
	} else {
		_, err = io.WriteString(stdout, t.Text())
	}
	if err != nil {
		return err
	}
	if err := malformedError(t); err != nil {
		return fmt.Errorf("dissect: %w", err)
	}
	return nil
}

// malformedError is nil for a well-formed packet and otherwise says, like a
// linter, what is wrong and where: the tree's first expert note.
func malformedError(t codec.Tree) error {
	if len(t.Expert) == 0 {
		return nil
	}
	e := t.Expert[0]
	msg := fmt.Sprintf("malformed %s at offset %d: %s", t.Name, e.Offset, e.Message)
	if e.Clause != "" {
		msg += " [" + e.Clause + "]"
	}
	return errors.New(msg)
}

// packetJSON is one line of `dissect -json FILE`.
type packetJSON struct {
	Frame   int        `json:"frame"`
	Time    time.Time  `json:"time"`
	T       float64    `json:"t"` // seconds since the first frame, as tshark's frame.time_relative
	Src     string     `json:"src"`
	Dst     string     `json:"dst"`
	Conn    string     `json:"conn"`
	Version int        `json:"version,omitempty"`
	Tree    codec.Tree `json:"tree"`
}

func dissectFile(ctx context.Context, name string, asJSON bool, stdout, stderr io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("dissect: %w", err)
	}
	defer f.Close()
	enc := json.NewEncoder(stdout)
	n, bad := 0, 0
	var firstBad error
	var mqtt []trace.Entry // for the expert analysis, numbered by frame
	sum, err := capture.Scan(f, capture.Options{}, func(it capture.Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := it.Entry
		if !strings.HasPrefix(e.Kind, "mqtt.") {
			return nil
		}
		n++
		e.Seq = it.Frame
		mqtt = append(mqtt, e)
		v := codec.Version(e.Version)
		if v == 0 {
			v = codec.DefaultVersion
		}
		tree := codec.Dissect(e.Bytes, v)
		if err := malformedError(tree); err != nil {
			if bad == 0 {
				firstBad = fmt.Errorf("frame %d: %w", it.Frame, err)
			}
			bad++
		}
		if asJSON {
			return enc.Encode(packetJSON{Frame: it.Frame, Time: it.Time.UTC(), T: math.Round(e.T*1e6) / 1e9,
				Src: e.From, Dst: e.To, Conn: e.Conn, Version: e.Version, Tree: tree})
		}
		_, err := fmt.Fprintf(stdout, "Frame %d  %s  %s → %s  %s\n%s\n", it.Frame,
			strconv.FormatFloat(e.T/1000, 'f', 6, 64)+"s", e.From, e.To, e.Conn, tree.Text())
		return err
	})
	if err != nil {
		return fmt.Errorf("dissect: %s: %w", name, err)
	}
	for _, p := range sum.Problems {
		fmt.Fprintf(stderr, "dissect: %s: %v\n", name, p)
	}
	if n == 0 {
		fmt.Fprintf(stderr, "dissect: %s: no MQTT packets in %d frames\n", name, sum.Frames)
		return nil
	}
	fs := expert.Analyze(mqtt, expert.Options{})
	if asJSON {
		err = writeFindingsJSON(enc, fs)
	} else {
		err = writeFindings(stdout, fs, "frame ")
	}
	if err != nil {
		return err
	}
	if bad > 0 {
		return fmt.Errorf("dissect: %s: %d of %d MQTT packets malformed, the first: %w", name, bad, n, firstBad)
	}
	return nil
}
