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
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // the help was asked for and printed
		}
		var st exitStatus
		if errors.As(err, &st) {
			os.Exit(int(st)) // the command said why
		}
		fmt.Fprintln(os.Stderr, "lifeline:", err)
		os.Exit(2)
	}
}

// stopSignals end a command gracefully (`lifeline serve` closes its
// sessions with 1001 going away).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM}

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
		key := envName(f.Name)
		if v, ok := os.LookupEnv(key); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: invalid value for -%s: %w", key, v, f.Name, e)
			}
		}
	})
	return err
}

// envName is the environment variable that sets flag name.
func envName(name string) string {
	return "LIFELINE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// flagGroup is a titled group of flags in a command's help.
type flagGroup struct {
	title string
	names []string
}

// printUsage writes a command's help: its synopsis, then its flags by group,
// each with its argument, environment variable, meaning and default; flags
// in no group are listed last under "Other".
func printUsage(w io.Writer, fs *flag.FlagSet, synopsis string, groups []flagGroup) {
	fmt.Fprintf(w, "Usage: %s\n", synopsis)
	seen := map[string]bool{}
	for _, g := range groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, n := range g.names {
			if f := fs.Lookup(n); f != nil && !seen[n] {
				seen[n] = true
				printFlag(w, f)
			}
		}
	}
	var rest []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			rest = append(rest, f)
		}
	})
	if len(rest) > 0 {
		fmt.Fprintf(w, "\nOther:\n")
		for _, f := range rest {
			printFlag(w, f)
		}
	}
	fmt.Fprintf(w, "\nEach flag can be set in the environment instead, as LIFELINE_<FLAG> with\n"+
		"dashes as underscores (shown beside each flag); the command line wins.\n")
}

func printFlag(w io.Writer, f *flag.Flag) {
	arg, usage := flag.UnquoteUsage(f)
	head := "  -" + f.Name
	if arg != "" {
		head += " " + arg
	}
	fmt.Fprintf(w, "%-36s %s\n      %s", head, envName(f.Name), usage)
	switch f.DefValue {
	case "", "false", "0":
	default:
		fmt.Fprintf(w, " (default %s)", f.DefValue)
	}
	fmt.Fprintln(w)
}
