package capture

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lifeline-mqtt/lifeline/internal/testenv"
)

// need fails the test when a program it needs is not installed.
func need(t testing.TB, prog string) string {
	t.Helper()
	return testenv.Tool(t, prog)
}

// tsharkRows runs tshark -T fields on file with one row per frame
// matching filter; each cell holds the field's occurrences.
// It loads a plugin for MQTT over WebSocket (see wsMQTTLua).
func tsharkRows(t testing.TB, file, filter string, extra []string, fields ...string) []tsharkRow {
	t.Helper()
	return tsharkRowsWith(t, append([]string{"-X", "lua_script:" + wsMQTTLua(t)}, extra...), file, filter, fields...)
}

// tsharkStockRows is tsharkRows with tshark as installed: no plugin and no
// setting, as someone opening an exported file would run it.
func tsharkStockRows(t testing.TB, file, filter string, fields ...string) []tsharkRow {
	t.Helper()
	return tsharkRowsWith(t, nil, file, filter, fields...)
}

func tsharkRowsWith(t testing.TB, extra []string, file, filter string, fields ...string) []tsharkRow {
	t.Helper()
	args := []string{"-n", "-r", file, "-Y", filter, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f", "-e", "frame.number"}
	args = append(args, extra...)
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command(need(t, "tshark"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var rows []tsharkRow
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line == "" {
			continue
		}
		cells := strings.Split(line, "\t")
		frame, err := strconv.Atoi(cells[0])
		if err != nil {
			t.Fatalf("tshark row %q: %v", line, err)
		}
		r := tsharkRow{frame: frame, fields: map[string][]string{}}
		for i, f := range fields {
			if i+1 < len(cells) && cells[i+1] != "" {
				r.fields[f] = strings.Split(cells[i+1], "\x1f")
			}
		}
		rows = append(rows, r)
	}
	return rows
}

type tsharkRow struct {
	frame  int
	fields map[string][]string
}

// wsMQTTLua writes a one-line Lua plugin that hands WebSocket payloads
// negotiated with the mqtt subprotocol to tshark's MQTT dissector: tshark
// 4.0 shows them as plain data otherwise.
func wsMQTTLua(t testing.TB) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ws-mqtt.lua")
	const script = `DissectorTable.get("ws.protocol"):add("mqtt", Dissector.get("mqtt"))` + "\n"
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}
