// Package admin serves the operator endpoints: /health (the process is alive), /ready (the
// pipelines run and their exporters are not failing), /metrics (Prometheus text format) and a
// small status console at /.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Config is the [admin] section.
type Config struct {
	// Endpoint is host:port to listen on; "" disables the admin server.
	Endpoint string `toml:"endpoint"`
	// Pprof serves Go's profiles under /debug/pprof/ (off by default: they expose internals).
	Pprof bool `toml:"pprof"`
	// MaxConnections bounds the connections the admin port holds at once (0: no bound), so that
	// a flood of idle connections to it cannot use up the file descriptors the receivers need;
	// further connections wait in the kernel's backlog.
	MaxConnections int `toml:"max_connections"`
}

// DefaultMaxConnections is the admin port's default connection bound: dashboards, probes and
// an operator's browser need a handful.
const DefaultMaxConnections = 64

// NewDefaultConfig listens on localhost:8080.
func NewDefaultConfig() Config {
	return Config{Endpoint: DefaultEndpoint, MaxConnections: DefaultMaxConnections}
}

// DefaultEndpoint is local only, like the receivers': the admin port serves the console and
// the configuration APIs.
const DefaultEndpoint = "localhost:8080"

// Validate reports an unparsable endpoint.
func (c Config) Validate() error {
	if c.Endpoint == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil {
		return fmt.Errorf("endpoint: %q is not host:port: %w", c.Endpoint, err)
	}
	if c.MaxConnections < 0 {
		return fmt.Errorf("max_connections: must be >= 0, got %d", c.MaxConnections)
	}
	return nil
}

// Check is one named readiness condition.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is the readiness answer.
type Report struct {
	Ready bool `json:"ready"`
	// Status is "healthy", "degraded" (serving, something impaired) or "unhealthy".
	Status string  `json:"status,omitempty"`
	Checks []Check `json:"checks"`
}

// Settings are injected by the process that owns the server.
type Settings struct {
	Logger   *slog.Logger
	Gatherer prometheus.Gatherer
	// Ready computes readiness on each /ready request; nil means always ready.
	Ready func(ctx context.Context) Report
	// Version is shown by the console and /health.
	Version string
}

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	set     Settings
	started time.Time

	mu  sync.Mutex
	srv *http.Server  // guarded by mu
	ln  net.Listener  // guarded by mu
	end chan struct{} // guarded by mu; closed when Serve returned
}

// New builds the server; Start binds it.
func New(cfg Config, set Settings) *Server {
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Gatherer == nil {
		set.Gatherer = prometheus.NewRegistry()
	}
	return &Server{cfg: cfg, set: set}
}

// Handler returns the admin routes (also used by tests without a listener).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /ready", s.ready)
	mux.Handle("GET /metrics", gzipStateless(promhttp.HandlerFor(s.set.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.set.Logger}, DisableCompression: true})))
	mux.HandleFunc("GET /{$}", s.console)
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// Start binds the listener and serves in the background.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Endpoint == "" || s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.cfg.Endpoint, err)
	}
	if s.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	s.started = time.Now()
	s.ln = ln
	// No WriteTimeout: a CPU profile streams for its whole duration.
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10}
	s.end = make(chan struct{})
	go func(srv *http.Server, end chan struct{}) {
		defer close(end)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.set.Logger.Error("admin server stopped", "error", err)
		}
	}(s.srv, s.end)
	s.set.Logger.Info("admin listening", "endpoint", ln.Addr().String())
	return nil
}

// Addr is the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops serving. Idempotent, safe without Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, end := s.srv, s.end
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	<-end
	return err
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "version": s.set.Version, "uptime_seconds": int(time.Since(s.started).Seconds())})
}

func (s *Server) report(ctx context.Context) Report {
	if s.set.Ready == nil {
		return Report{Ready: true}
	}
	r := s.set.Ready(ctx)
	sort.Slice(r.Checks, func(i, j int) bool { return r.Checks[i].Name < r.Checks[j].Name })
	return r
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	rep := s.report(r.Context())
	code := http.StatusOK
	if !rep.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

// The console is written with html.EscapeString rather than html/template: the template
// packages call reflect.Value.Method, which makes the linker keep every exported method of
// every reachable type (about 1 MB more binary, resident as page cache mapped into the process).
const (
	consoleHead = `<!doctype html>
<html><head><meta charset="utf-8"><title>otlp-server</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}td,th{padding:.2em .8em;text-align:left}.ok{color:#080}.bad{color:#b00}</style>
</head><body>`
	consoleTail = `</table><p><a href="/metrics">/metrics</a> · <a href="/ready">/ready</a> · <a href="/health">/health</a></p></body></html>`
)

func (s *Server) console(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	rep := s.report(r.Context())
	var b strings.Builder
	b.WriteString(consoleHead)
	fmt.Fprintf(&b, "<h1>otlp-server %s</h1>\n<p>Status: ", html.EscapeString(s.set.Version))
	if rep.Ready {
		b.WriteString(`<b class="ok">ready</b>`)
	} else {
		b.WriteString(`<b class="bad">not ready</b>`)
	}
	fmt.Fprintf(&b, " · up %s</p>\n<table><tr><th>check</th><th>state</th><th>detail</th></tr>\n", time.Since(s.started).Round(time.Second))
	for _, c := range rep.Checks {
		state := `<span class="ok">ok</span>`
		if !c.OK {
			state = `<span class="bad">failing</span>`
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>", html.EscapeString(c.Name), state, html.EscapeString(c.Detail))
	}
	b.WriteString("\n")
	b.WriteString(consoleTail)
	if _, err := io.WriteString(w, b.String()); err != nil {
		s.set.Logger.Debug("console write failed", "error", err)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// slogErrorLog adapts slog to promhttp's error logger.
type slogErrorLog struct{ l *slog.Logger }

func (e slogErrorLog) Println(v ...any) { e.l.Error("metrics endpoint", "error", fmt.Sprint(v...)) }
