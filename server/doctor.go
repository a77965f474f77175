package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lifeline-mqtt/lifeline/doctor"
	"github.com/lifeline-mqtt/lifeline/wsclient"
)

func init() { commands["doctor"] = runDoctor }

// exitStatus ends lifeline with a status and no message of its own: the
// command has said everything.
type exitStatus int

func (e exitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }

// runDoctor: lifeline doctor [flags] URL — checks an MQTT endpoint step by
// step and prints a checklist; the exit status is 0 when it works, 1 when
// a check failed, 2 on bad usage.
func runDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o doctor.Options
	var asJSON bool
	var cacert string
	fs.BoolVar(&asJSON, "json", false, "print the checklist as one JSON object")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "bound on each step")
	fs.DurationVar(&o.Idle, "idle", 0, "hold a connection idle this long and check that nothing on the way closes it (0: skip)")
	fs.IntVar(&o.KeepAlive, "k", 60, "the keepalive (seconds) the endpoint's clients use, compared with an idle close")
	fs.BoolVar(&o.Insecure, "insecure", false, "do not verify the server's certificate (the checklist says so)")
	fs.StringVar(&cacert, "cacert", "", "trust the CA certificates in this PEM `FILE` instead of the system's")
	fs.StringVar(&o.Nameserver, "nameserver", "", "DNS server (`host:port`) (default: /etc/resolv.conf)")
	fs.StringVar(&o.Origin, "origin", "", "send this Origin header on WebSocket upgrades")
	fs.StringVar(&o.Username, "u", "", "user name for CONNECT")
	fs.StringVar(&o.Password, "P", "", "password for CONNECT")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lifeline doctor [flags] ws://HOST[:PORT]/PATH | wss://… | mqtt://HOST[:PORT] | mqtts://…")
		fmt.Fprintln(stderr, "Checks DNS, TCP, TLS, the WebSocket upgrade and subprotocol, CONNECT in MQTT 3.1.1 and 5.0,")
		fmt.Fprintln(stderr, "a QoS 1 round trip and (-idle) idle closes; exit status 0 when the endpoint works, 1 when not.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envDefaults(fs); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("doctor: one URL expected")
	}
	t, err := wsclient.ParseURL(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("doctor: %w", err)
	}
	if cacert != "" {
		pem, err := os.ReadFile(cacert)
		if err != nil {
			return fmt.Errorf("doctor: -cacert: %w", err)
		}
		pool, ok := wsclient.LoadCAs(pem)
		if !ok {
			return fmt.Errorf("doctor: -cacert %s: no PEM certificate in it", cacert)
		}
		o.RootCAs = pool
	}
	if !asJSON {
		fmt.Fprintf(stdout, "lifeline doctor %s\n", t)
		if o.Insecure {
			fmt.Fprintln(stdout, "  (-insecure: certificates are NOT verified)")
		}
		if cacert != "" {
			fmt.Fprintf(stdout, "  (-cacert: trusting the CA certificates of %s instead of the system's)\n", cacert)
		}
		o.Progress = func(c doctor.Check) { printCheck(stdout, c) }
	}
	rep := doctor.Run(ctx, t, o)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printVerdict(stdout, rep)
	}
	if !rep.Works {
		return exitStatus(1)
	}
	return nil
}

var verdictMarks = map[doctor.Verdict]string{doctor.OK: "[ ok ]", doctor.Warn: "[warn]", doctor.Fail: "[FAIL]", doctor.Skip: "[skip]"}

// printCheck writes one line of the checklist, and the fix under it.
func printCheck(w io.Writer, c doctor.Check) {
	t := ""
	if c.Verdict != doctor.Skip {
		t = fmt.Sprintf(" (%.1f ms)", c.Millis)
	}
	fmt.Fprintf(w, "%s %s%s\n", verdictMarks[c.Verdict], c.Title, t)
	if c.Detail != "" {
		fmt.Fprintf(w, "       %s\n", c.Detail)
	}
	if c.Fix != "" {
		fmt.Fprintf(w, "       fix: %s\n", c.Fix)
	}
}

func printVerdict(w io.Writer, rep doctor.Report) {
	var failed []string
	for _, c := range rep.Checks {
		if c.Verdict == doctor.Fail {
			failed = append(failed, c.Step)
		}
	}
	switch {
	case rep.Works:
		fmt.Fprintf(w, "works: %s\n", rep.URL)
	case rep.Use != "":
		fmt.Fprintf(w, "does not work as given (%s); works as %s\n", strings.Join(failed, ", "), rep.Use)
	default:
		fmt.Fprintf(w, "does not work (%s)\n", strings.Join(failed, ", "))
	}
}
