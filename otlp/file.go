package otlp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/internal/otlpfile"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/tomlx"
	"github.com/otlp-dev/otlp/resilience"
)

// fileShape is what the SDK reads of a configuration file: the server's [otlp] section and
// an [sdk] section of its own. The server's other sections are ignored, so one file can serve
// both.
type fileShape struct {
	OTLP       otlpfile.OTLP  `toml:"otlp"`
	SDK        sdkSection     `toml:"sdk"`
	Admin      toml.Primitive `toml:"admin"`
	Receivers  toml.Primitive `toml:"receivers"`
	Processors toml.Primitive `toml:"processors"`
	Exporters  toml.Primitive `toml:"exporters"`
	Pipelines  toml.Primitive `toml:"pipelines"`
}

// sdkSection is [sdk].
type sdkSection struct {
	ServiceVersion     string            `toml:"service_version"`
	ResourceAttributes map[string]string `toml:"resource_attributes"`
	SamplingRatio      *float64          `toml:"sampling_ratio"`
	ParentBased        *bool             `toml:"parent_based"`
	MetricInterval     time.Duration     `toml:"metric_interval"`
	DiskBuffer         string            `toml:"disk_buffer"`
	Batch              struct {
		MaxSize        int           `toml:"max_size"`
		MaxBytes       int           `toml:"max_bytes"`
		Timeout        time.Duration `toml:"timeout"`
		QueueSize      int           `toml:"queue_size"`
		MemoryLimitMiB int64         `toml:"memory_limit_mib"`
		DiskLimitMiB   int64         `toml:"disk_limit_mib"`
		FullPolicy     string        `toml:"full_policy"`
		BlockTimeout   time.Duration `toml:"block_timeout"`
	} `toml:"batch"`
	TLS fileTLS `toml:"tls"`
}

type fileTLS struct {
	CAFile             string `toml:"ca_file"`
	CertFile           string `toml:"cert_file"`
	KeyFile            string `toml:"key_file"`
	ServerName         string `toml:"server_name"`
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
}

// loadFile applies the file at path to c. ${VAR} and ${VAR:-default} in string values are
// replaced from getenv after parsing, as the server does (an unset variable is an error).
// Unknown keys in [otlp] and [sdk] are errors, and so are durations without a unit.
func loadFile(path string, getenv tomlx.Getenv, c *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("otlp: config: %w", err)
	}
	exp, err := tomlx.Expand(data, getenv)
	if err != nil {
		return fmt.Errorf("otlp: config %s: %w", path, err)
	}
	f := fileShape{OTLP: otlpfile.OTLP{Resilience: resilience.NewDefaultConfig()}} // validated over its defaults
	md, err := toml.Decode(exp.Text, &f)
	if err != nil {
		return fmt.Errorf("otlp: config %s: %w", path, err)
	}
	if err := errors.Join(tomlx.Check(tomlx.Table(exp.Raw, "otlp"), f.OTLP, "otlp"),
		tomlx.Check(tomlx.Table(exp.Raw, "sdk"), f.SDK, "sdk")); err != nil {
		return fmt.Errorf("otlp: config %s: %w", path, err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if top := k[0]; top == "otlp" || top == "sdk" {
			unknown = append(unknown, k.String())
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("otlp: config %s: unknown keys %s", path, strings.Join(unknown, ", "))
	}
	if err := f.OTLP.Resilience.Validate(); err != nil {
		return fmt.Errorf("otlp: config %s: otlp.resilience.%w", path, err)
	}
	applyFile(c, f, md)
	return nil
}

func applyFile(c *Config, f fileShape, md toml.MetaData) {
	def := func(keys ...string) bool { return md.IsDefined(keys...) }
	o, s := f.OTLP, f.SDK
	set(&c.ServiceName, o.ServiceName)
	set(&c.Environment, o.Environment)
	set(&c.LogLevel, o.LogLevel)
	set(&c.ShutdownTimeout, o.ShutdownTimeout)
	t := o.Transport
	switch t.Protocol {
	case "http", ProtocolHTTP:
		c.Export.Protocol = ProtocolHTTP
	case "grpc":
		c.Export.Protocol = ProtocolGRPC
	case "":
	default:
		c.Export.Protocol = t.Protocol // rejected by Validate
	}
	if len(t.Endpoints) > 0 {
		c.Export.Endpoints = t.Endpoints
	}
	set(&c.Export.Timeout, t.Timeout)
	set(&c.Export.Compression, t.Compression)
	if def("otlp", "transport", "insecure") {
		c.Export.Insecure = t.Insecure
	}
	if t.Headers != nil {
		c.Export.Headers = t.Headers
	}
	set(&c.DiskBuffer, t.QueueDir)
	set(&c.DiskBuffer, s.DiskBuffer)

	r := o.Resilience
	if def("otlp", "resilience", "retry", "disabled") {
		c.Retry.Disabled = r.Retry.Disabled
	}
	if def("otlp", "resilience", "retry", "base_delay") {
		c.Retry.InitialInterval = r.Retry.BaseDelay
	}
	if def("otlp", "resilience", "retry", "max_delay") {
		c.Retry.MaxInterval = r.Retry.MaxDelay
	}
	if def("otlp", "resilience", "retry", "max_elapsed") {
		c.Retry.MaxElapsed = r.Retry.MaxElapsed
	}
	if def("otlp", "resilience", "circuit_breaker", "failure_threshold") {
		c.CircuitBreaker.FailureThreshold = r.CircuitBreaker.FailureThreshold
	}
	if def("otlp", "resilience", "circuit_breaker", "recovery_timeout") {
		c.CircuitBreaker.RecoveryTimeout = r.CircuitBreaker.RecoveryTimeout
	}
	if def("otlp", "resilience", "timeout", "write") && !def("otlp", "transport", "timeout") {
		c.Export.Timeout = r.Timeout.Write
	}

	set(&c.ServiceVersion, s.ServiceVersion)
	if s.ResourceAttributes != nil {
		c.ResourceAttributes = s.ResourceAttributes
	}
	if s.SamplingRatio != nil {
		c.SamplingRatio = *s.SamplingRatio
	}
	if s.ParentBased != nil {
		c.ParentBased = *s.ParentBased
	}
	set(&c.MetricInterval, s.MetricInterval)
	b := s.Batch
	set(&c.Batch.MaxSize, b.MaxSize)
	set(&c.Batch.MaxBytes, b.MaxBytes)
	set(&c.Batch.Timeout, b.Timeout)
	set(&c.Batch.QueueSize, b.QueueSize)
	set(&c.Batch.MemoryLimit, b.MemoryLimitMiB<<20)
	set(&c.Batch.DiskLimit, b.DiskLimitMiB<<20)
	set(&c.Batch.FullPolicy, b.FullPolicy)
	if def("sdk", "batch", "block_timeout") {
		c.Batch.BlockTimeout = b.BlockTimeout
	}
	if s.TLS != (fileTLS{}) {
		c.Export.TLS = TLSConfig(s.TLS)
	}
}

// ReloadEvent reports one reload of the configuration file.
type ReloadEvent struct {
	// Config is the configuration in force after the reload: the new one, or the old one
	// when Err is set.
	Config Config
	// Err is why the new file was rejected (nil: applied).
	Err error
}

// reloader watches the configuration file and tells subscribers.
type reloader struct {
	mu      sync.Mutex
	subs    map[int]func(ReloadEvent) // guarded by mu
	next    int                       // guarded by mu
	watcher *otlpfile.Watcher         // guarded by mu
	done    chan struct{}
}

func (r *reloader) watch(c *Client, path string) error {
	w, err := otlpfile.NewWatcher(path, c.log)
	if err != nil {
		return fmt.Errorf("otlp: watch %s: %w", path, err)
	}
	r.mu.Lock()
	r.watcher = w
	r.done = make(chan struct{})
	r.mu.Unlock()
	c.bg.Go(func() {
		for {
			select {
			case <-r.done:
				return
			case _, ok := <-w.Changes():
				if !ok {
					return
				}
				_ = c.Reload(context.Background())
			}
		}
	})
	return nil
}

func (r *reloader) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.watcher != nil {
		_ = r.watcher.Close()
		close(r.done)
		r.watcher = nil
	}
}

// OnReload calls f after every reload of the configuration file, applied or rejected. It
// returns a function that stops the calls.
func (c *Client) OnReload(f func(ReloadEvent)) (cancel func()) {
	r := &c.reload
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subs == nil {
		r.subs = map[int]func(ReloadEvent){}
	}
	id := r.next
	r.next++
	r.subs[id] = f
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.subs, id)
	}
}

// Reload rereads the configuration file (FromConfigFile) and applies what changed: sampling,
// batching, log level, and endpoints, headers, TLS and retry (by replacing the exporter; what
// the old one still holds is delivered or counted). An invalid file is rejected and the
// running configuration stays. The file is also reloaded on its own when it changes.
func (c *Client) Reload(ctx context.Context) error {
	if c.opts.configFile == "" {
		return fmt.Errorf("otlp: reload: no configuration file")
	}
	cfg, _, err := resolve(&c.opts)
	if err == nil {
		err = c.apply(ctx, cfg)
	}
	if err != nil {
		c.log.Error("configuration reload rejected; the running configuration stays", "error", err)
	} else {
		c.log.Info("configuration reloaded")
	}
	ev := ReloadEvent{Config: c.Config(), Err: err}
	c.reload.mu.Lock()
	subs := make([]func(ReloadEvent), 0, len(c.reload.subs))
	for _, f := range c.reload.subs {
		subs = append(subs, f)
	}
	c.reload.mu.Unlock()
	for _, f := range subs {
		f(ev)
	}
	return err
}

// apply switches the running client to cfg.
func (c *Client) apply(ctx context.Context, cfg Config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shutdown {
		return fmt.Errorf("otlp: reload: client shut down")
	}
	if c.tp == nil || cfg.Disabled != c.cfg.Disabled {
		if cfg.Disabled != c.cfg.Disabled {
			return fmt.Errorf("otlp: reload: enabling or disabling the SDK needs a restart")
		}
		c.cfg = cfg
		return nil
	}
	old := c.cfg
	if transportChanged(old, cfg) {
		all, bySig, err := buildDestinations(cfg, &c.opts, c.m, c.log)
		if err != nil {
			return err
		}
		for _, d := range all {
			if err := d.Start(ctx); err != nil {
				for _, d := range all {
					_ = d.Shutdown(ctx)
				}
				return fmt.Errorf("otlp: reload: %w", err)
			}
		}
		for _, s := range pipeline.Signals {
			c.refs[s].store(bySig[s])
		}
		prev := c.dests
		c.dests = all
		// The old exporters finish what they hold in the background.
		c.bg.Go(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, d := range prev {
				_ = d.Shutdown(sctx)
			}
		})
	}
	c.limits.set(cfg.Batch)
	c.sampler.set(cfg)
	_ = c.level.UnmarshalText([]byte(cfg.LogLevel))
	c.cfg = cfg
	return nil
}

func transportChanged(a, b Config) bool {
	return !reflect.DeepEqual(a.Export, b.Export) || !reflect.DeepEqual([]SignalConfig{a.Traces, a.Metrics, a.Logs}, []SignalConfig{b.Traces, b.Metrics, b.Logs}) ||
		a.Retry != b.Retry || a.CircuitBreaker != b.CircuitBreaker || a.DiskBuffer != b.DiskBuffer ||
		a.Batch.MemoryLimit != b.Batch.MemoryLimit || a.Batch.DiskLimit != b.Batch.DiskLimit
}
