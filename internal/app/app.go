// Package app is the process shell shared by otlp-server and otlp-agent: flags, configuration
// loading, logging, signals (SIGTERM/SIGINT drain, SIGHUP reload), the configuration file watch,
// and the ordered shutdown. Only main packages call it; it never exits the process itself.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/oklog/run"

	"github.com/otlp-dev/otlp/internal/config"
	"github.com/otlp-dev/otlp/internal/otlpfile"
	"github.com/otlp-dev/otlp/internal/server"
)

// Program describes one binary.
type Program struct {
	// Name is the binary's name, for flags' help and logs.
	Name    string
	Version string
	// Profile selects the built-in defaults (config.ProfileServer or config.ProfileAgent).
	Profile config.Profile
	// DefaultsHint, when set, gives the line logged when no configuration file is given, from
	// the configuration in force (the defaults with the environment's overrides).
	DefaultsHint func(*config.Config) string
}

// Run parses args and runs until a terminating signal; it returns the error to exit with.
func (p Program) Run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(p.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv(config.EnvConfigPath), "path of the TOML configuration (default: $"+config.EnvConfigPath+"; none: built-in defaults)")
	check := fs.String("check-config", "", "validate this configuration file as start-up would (TLS and token files, listen addresses) and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h or --help: the usage was printed, as asked
		}
		return err
	}
	load := func(path string) (*config.Config, error) { return config.LoadProfile(p.Profile, path, nil) }
	if *showVersion {
		fmt.Fprintln(stdout, p.Name, p.Version)
		return nil
	}
	if *check != "" {
		cfg, err := load(*check)
		if err != nil {
			return err
		}
		if err := server.Check(cfg); err != nil {
			return fmt.Errorf("%s: %w", *check, err)
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", *check)
		return nil
	}
	cfg, err := load(*cfgPath)
	if err != nil {
		return err
	}
	setGCPercent(cfg)
	level := new(slog.LevelVar)
	l, _ := config.ParseLevel(cfg.OTLP.LogLevel)
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.OTLP.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(h).With("service", cfg.OTLP.ServiceName, "environment", cfg.OTLP.Environment)
	if *cfgPath == "" && p.DefaultsHint != nil {
		log.Info(p.DefaultsHint(cfg))
	}

	srv, err := server.New(cfg, server.Settings{Logger: log, Level: level, Version: p.Version})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	reload := func() {
		if *cfgPath == "" {
			log.Info("reload requested but no configuration file is in use")
			return
		}
		next, err := load(*cfgPath)
		if err != nil {
			log.Error("configuration rejected; keeping the running one", "error", err)
			return
		}
		if err := srv.Reload(ctx, next); err != nil {
			log.Error("reload failed", "error", err)
			return
		}
		setGCPercent(next)
	}

	var g run.Group
	// Signals: SIGTERM/SIGINT end the group (then the server drains), SIGHUP reloads.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	sigDone := make(chan struct{})
	g.Add(func() error {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGHUP {
					reload()
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
		w, err := otlpfile.NewWatcher(*cfgPath, log)
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
						reload()
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

// setGCPercent applies [otlp] gc_percent; a GOGC environment variable takes precedence, as it
// does for any Go program.
func setGCPercent(cfg *config.Config) {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(cfg.OTLP.GCPercent)
	}
}
