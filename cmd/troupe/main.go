// Command troupe is the troupe realtime server.
//
//	troupe [serve] [flags]      run the server (the default)
//	troupe check-config [flags] validate the configuration and exit
//	troupe bench SCENARIO ...   load a running server (idle, fanout with --rate or a --rates ramp, storm, signals)
//	troupe drill [flags]        crash things (or kill and pause cluster nodes) under load and verify nothing is lost
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/troupe-chat/troupe/cmd/troupe/app"
	"github.com/troupe-chat/troupe/cmd/troupe/bench"
	"github.com/troupe-chat/troupe/cmd/troupe/drill"
	"github.com/troupe-chat/troupe/configs"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		usage(stdout)
		return 0
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "bench":
		return bench.Run(args, stdout, stderr)
	case "drill":
		return drill.Run(args, stdout, stderr)
	case "check-config":
		cfg, err := configs.Load(args, os.Getenv)
		if err != nil {
			return configError(err, stdout, stderr)
		}
		fmt.Fprintf(stdout, "config ok (addr %s, store %s)\n", cfg.Addr, cfg.RedactedStore())
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "troupe: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: troupe [serve|check-config] [flags]\n       troupe bench idle|fanout|storm|signals --url http://HOST:PORT [flags]\n       troupe drill --url http://HOST:PORT --api-key KEY [--kinds ...] [--clients 50] [--rooms 5] [--duration 20s] [--json]\n       troupe drill --nodes URL,URL,... --pids PID,PID,... --kinds node-kill|node-pause [--pause 6s] [flags]")
	fs := configs.NewFlagSet("troupe")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func configError(err error, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "troupe: invalid configuration:\n%v\n", err)
	return 2
}

func serve(args []string, stdout, stderr io.Writer) int {
	cfg, err := configs.Load(args, os.Getenv)
	if err != nil {
		return configError(err, stdout, stderr)
	}
	log := app.NewLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := app.Start(ctx, cfg, log)
	if err != nil {
		log.Error("troupe failed to start", "err", err)
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	code := 0
	for waiting := true; waiting; {
		select {
		case <-hup:
			if err := a.Reload(); err != nil {
				log.Error("reload failed; keeping the old settings", "err", err)
			}
		case <-ctx.Done():
			log.Info("signal received; draining", "timeout", cfg.ShutdownTimeout)
			waiting = false
		case err := <-a.Served():
			if err != nil {
				log.Error("serving failed", "err", err)
				code = 1
			}
			waiting = false
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Error("shutdown incomplete", "err", err)
		code = 1
	}
	return code
}
