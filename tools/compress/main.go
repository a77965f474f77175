// Command compress writes brotli (.br) and gzip (.gz) copies of the files it
// is given, at the highest levels, so lifeline serve can send main.wasm
// precompressed. It is run by `make wasm` and needs nothing but Go.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"

	"github.com/andybalholm/brotli"
)

func main() {
	for _, name := range os.Args[1:] {
		if err := compress(name); err != nil {
			fmt.Fprintln(os.Stderr, "compress:", err)
			os.Exit(1)
		}
	}
}

func compress(name string) error {
	raw, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var br bytes.Buffer
	// The largest window brotli has (RFC 7932: 2^24 bytes), which every
	// browser's decoder takes: 0.06% smaller than the default 2^22 on the
	// wasm, whose repeats lie far apart.
	bw := brotli.NewWriterOptions(&br, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: 24})
	if _, err := bw.Write(raw); err != nil {
		return err
	}
	if err := bw.Close(); err != nil {
		return err
	}
	var gz bytes.Buffer
	gw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := io.Copy(gw, bytes.NewReader(raw)); err != nil {
		return err
	}
	if err := gw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(name+".br", br.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(name+".gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d bytes, brotli %d, gzip %d\n", name, len(raw), br.Len(), gz.Len())
	return nil
}
