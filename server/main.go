// Command lifeline serves the Lifeline page and proxies its WebSocket to MQTT
// brokers, recording DNS, TCP, TLS and the broker leg's packets.
//
// Usage:
//
//	lifeline [serve] [flags]   serve the page and the proxy (the default)
//
// Every flag can also be set from the environment as LIFELINE_<FLAG>, with
// dashes written as underscores (LIFELINE_LISTEN, LIFELINE_ALLOW_PRIVATE, …);
// a flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "lifeline:", err)
		}
		os.Exit(2)
	}
}

// command is a subcommand's entry point.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commands maps a subcommand's name to its entry point; each subcommand's
// file registers itself in an init function.
var commands = map[string]command{}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cmd, ok := commands[name]
	if !ok {
		names := make([]string, 0, len(commands))
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("unknown command %q (commands: %s)", name, strings.Join(names, ", "))
	}
	return cmd(ctx, args, stdout, stderr)
}

// envDefaults sets every flag of fs that was not given on the command line
// from LIFELINE_<NAME> when that variable is set.
func envDefaults(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		key := "LIFELINE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", key, v, e)
			}
		}
	})
	return err
}
