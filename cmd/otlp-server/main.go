// Command otlp-server is the OTLP collector: it receives traces, metrics and logs over OTLP
// gRPC and HTTP, runs them through pipelines and forwards them to exporters.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/oklog/run"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	if err := runMain(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "otlp-server:", err)
		os.Exit(1)
	}
}

func runMain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("otlp-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv(config.EnvConfigPath), "path of the TOML configuration (default: $"+config.EnvConfigPath+"; none: built-in defaults)")
	check := fs.String("check-config", "", "validate this configuration file and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, "otlp-server", version)
		return nil
	}
	if *check != "" {
		if _, err := config.Load(*check, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *check)
		return nil
	}
	cfg, err := config.Load(*cfgPath, nil)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	l, _ := config.ParseLevel(cfg.OTLP.LogLevel)
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.OTLP.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h).With("service", cfg.OTLP.ServiceName, "environment", cfg.OTLP.Environment)
	if *cfgPath == "" {
		log.Info("no configuration file: using built-in defaults (OTLP on :4317 and :4318, debug exporter, admin on :8080)")
	}

	srv, err := server.New(cfg, server.Settings{Logger: log, Level: level, Version: version})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}

	var g run.Group
	// The server runs until an interrupt; then it drains within shutdown_timeout.
	stop := make(chan struct{})
	g.Add(func() error {
		<-stop
		return nil
	}, func(error) {
		close(stop)
	})
	// Signals: SIGTERM/SIGINT stop, SIGHUP reloads.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	sigDone := make(chan struct{})
	g.Add(func() error {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					reload(ctx, srv, *cfgPath, log)
					continue
				}
				log.Info("signal received: draining", "signal", s.String())
				return nil
			case <-sigDone:
				return nil
			}
		}
	}, func(error) {
		signal.Stop(sigs)
		close(sigDone)
	})
	// The configuration file is watched: a change reloads it.
	if *cfgPath != "" {
		w, err := config.NewWatcher(*cfgPath, log)
		if err != nil {
			log.Warn("configuration file not watched; reload with SIGHUP", "error", err)
		} else {
			wctx, wcancel := context.WithCancel(ctx)
			g.Add(func() error {
				for {
					select {
					case <-wctx.Done():
						return nil
					case <-w.Changes():
						reload(ctx, srv, *cfgPath, log)
					}
				}
			}, func(error) {
				wcancel()
				w.Close()
			})
		}
	}
	_ = g.Run()

	sctx, scancel := context.WithTimeout(context.Background(), cfg.OTLP.ShutdownTimeout)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// reload loads path and applies it; an invalid file is logged and the running config stays.
func reload(ctx context.Context, srv *server.Server, path string, log *slog.Logger) {
	if path == "" {
		log.Info("reload requested but no configuration file is in use")
		return
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		log.Error("configuration rejected; keeping the running one", "error", err)
		return
	}
	if err := srv.Reload(ctx, cfg); err != nil {
		log.Error("reload failed", "error", err)
	}
}
