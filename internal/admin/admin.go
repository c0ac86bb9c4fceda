// Package admin serves the operator endpoints: /health (the process is alive), /ready (the
// pipelines run and their exporters are not failing), /metrics (Prometheus text format) and a
// small status console at /.
package admin

import (
	"context"
	"crypto/tls"
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
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"github.com/otlp-dev/otlp/internal/serverconf"
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
	// TLS serves the admin port over HTTPS (client certificates required with client_ca_file).
	TLS serverconf.TLS `toml:"tls"`
	// Auth requires a bearer token (or, for a browser, HTTP basic auth with the token as the
	// password) on every route but /health and /ready, which orchestrators' probes call; /ready
	// then tells an unauthenticated caller only whether the server is ready, not why.
	Auth serverconf.Auth `toml:"auth"`
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
	return errors.Join(c.TLS.Validate(), c.Auth.Validate())
}

// CheckFiles reads the TLS and token files as Start would, for --check-config.
func (c Config) CheckFiles() error {
	if c.Endpoint == "" {
		return nil
	}
	if _, err := c.TLS.Load(); err != nil {
		return fmt.Errorf("admin.%w", err)
	}
	if _, err := serverconf.NewBearer(c.Auth); err != nil {
		return fmt.Errorf("admin.%w", err)
	}
	return nil
}

// Files returns the certificate, key, CA and token files the admin port reads.
func (c Config) Files() []string { return append(c.TLS.Files(), c.Auth.Files()...) }

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

	// Read per connection and per request, so that a reload swaps them for the next ones.
	tls    atomic.Pointer[tls.Config]
	bearer atomic.Pointer[serverconf.Bearer]
	// extra serves the routes side services registered; swapped when they change.
	extra atomic.Pointer[http.Handler]

	mu    sync.Mutex
	srv   *http.Server  // guarded by mu
	ln    net.Listener  // guarded by mu
	end   chan struct{} // guarded by mu; closed when Serve returned
	files string        // guarded by mu; digest of the TLS and token files loaded
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
	mux.Handle("GET /metrics", s.private(gzipStateless(promhttp.HandlerFor(s.set.Gatherer, promhttp.HandlerOpts{ErrorLog: slogErrorLog{s.set.Logger}, DisableCompression: true}))))
	mux.Handle("GET /{$}", s.private(http.HandlerFunc(s.console)))
	mux.Handle("/", s.private(http.HandlerFunc(s.serveExtra)))
	if s.cfg.Pprof {
		mux.Handle("/debug/pprof/", s.private(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", s.private(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", s.private(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", s.private(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", s.private(http.HandlerFunc(pprof.Trace)))
	}
	return mux
}

// SetRoutes serves h (nil: none) for every path the admin port's own routes leave, behind the
// admin token. The side services' routes are installed with it, and replaced on reload.
func (s *Server) SetRoutes(h http.Handler) {
	if h == nil {
		s.extra.Store(nil)
		return
	}
	s.extra.Store(&h)
}

func (s *Server) serveExtra(w http.ResponseWriter, r *http.Request) {
	if h := s.extra.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	http.NotFound(w, r)
}

// authorized reports whether r carries the admin token: as a bearer token, or as the password
// of HTTP basic auth (what a browser can send), any user name. True when auth is off.
func (s *Server) authorized(r *http.Request) bool {
	b := s.bearer.Load()
	if b == nil || !b.On() {
		return true
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return b.Allow("Bearer " + pass)
	}
	return b.Allow(r.Header.Get("Authorization"))
}

// private answers 401 to a request without the admin token.
func (s *Server) private(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			w.Header().Add("WWW-Authenticate", `Bearer realm="otlp admin"`)
			w.Header().Add("WWW-Authenticate", `Basic realm="otlp admin"`)
			http.Error(w, "401 unauthorized: this admin port requires its token (Authorization: Bearer <token>, or basic auth with the token as the password)", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// load reads the TLS and token files. Nothing changes when one fails.
func (s *Server) load() error {
	tc, err := s.cfg.TLS.Load()
	if err != nil {
		return fmt.Errorf("admin.%w", err)
	}
	b, err := serverconf.NewBearer(s.cfg.Auth)
	if err != nil {
		return fmt.Errorf("admin.%w", err)
	}
	if tc != nil {
		tc.NextProtos = []string{"h2", "http/1.1"}
	}
	s.tls.Store(tc)
	s.bearer.Store(&b)
	s.files = serverconf.Digest(s.cfg.Files())
	return nil
}

// ReloadFiles reads the TLS and token files again if they changed since they were loaded (a
// rotated certificate or token): new connections and requests use them. On an error the files
// in use stay. It reports whether anything was reloaded.
func (s *Server) ReloadFiles() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil || serverconf.Digest(s.cfg.Files()) == s.files {
		return false, nil
	}
	if err := s.load(); err != nil {
		return false, err
	}
	return true, nil
}

// Start binds the listener and serves in the background.
func (s *Server) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Endpoint == "" || s.srv != nil {
		return nil
	}
	if err := s.load(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Endpoint)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.cfg.Endpoint, err)
	}
	if s.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	if s.tls.Load() != nil {
		ln = tls.NewListener(ln, &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.tls.Load(), nil
		}})
	}
	s.started = time.Now()
	s.ln = ln
	// No WriteTimeout: a CPU profile streams for its whole duration.
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		IdleTimeout: time.Minute, MaxHeaderBytes: 64 << 10,
		// Handshake failures are the client's to report (a plaintext probe of an HTTPS port).
		ErrorLog: slog.NewLogLogger(s.set.Logger.Handler(), slog.LevelDebug)}
	s.end = make(chan struct{})
	go func(srv *http.Server, end chan struct{}) {
		defer close(end)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.set.Logger.Error("admin server stopped", "error", err)
		}
	}(s.srv, s.end)
	scheme := "http"
	if s.tls.Load() != nil {
		scheme = "https"
	}
	s.set.Logger.Info("admin listening", "endpoint", ln.Addr().String(), "scheme", scheme, "auth", s.bearer.Load().On(), "pprof", s.cfg.Pprof)
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
	if !s.authorized(r) {
		// A probe needs the answer; the details (endpoints, errors) are for the token holder.
		rep.Checks = []Check{}
	}
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
