package file_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/file"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tick is a clock that advances a second on every reading, so rotated names differ.
type tick struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tick) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func newExporter(t *testing.T, cfg file.Config) (*file.Exporter, *selftel.Metrics) {
	t.Helper()
	m := selftel.New()
	clock := &tick{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	exp, err := file.New(cfg, file.Settings{Name: "file", Metrics: m, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(t.Context()) })
	return exp, m
}

// readItems parses every line of every file with pdata's JSON unmarshalers and returns the
// items per signal; a line that does not parse fails the test.
func readItems(t *testing.T, sig pipeline.Signal, paths ...string) (items, lines int) {
	t.Helper()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		for sc.Scan() {
			lines++
			var n int
			switch sig {
			case pipeline.SignalTraces:
				td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(sc.Bytes())
				if err != nil {
					t.Fatalf("%s line %d: %v", p, lines, err)
				}
				n = td.SpanCount()
			case pipeline.SignalMetrics:
				md, err := (&pmetric.JSONUnmarshaler{}).UnmarshalMetrics(sc.Bytes())
				if err != nil {
					t.Fatalf("%s line %d: %v", p, lines, err)
				}
				n = md.DataPointCount()
			case pipeline.SignalLogs:
				ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(sc.Bytes())
				if err != nil {
					t.Fatalf("%s line %d: %v", p, lines, err)
				}
				n = ld.LogRecordCount()
			}
			items += n
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	return items, lines
}

func TestLinesParse(t *testing.T) {
	for _, flush := range []time.Duration{0, time.Hour} {
		t.Run(flush.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out", "all.jsonl")
			exp, m := newExporter(t, file.Config{Path: path, FlushInterval: flush})
			batches := []pipeline.Batch{
				testutil.TracesBatch(testutil.Traces(2, 5, 0)),
				testutil.MetricsBatch(testutil.Metrics(1, 4, 0)),
				testutil.LogsBatch(testutil.Logs(3, 2, 0)),
			}
			for _, b := range batches {
				if err := exp.Consume(t.Context(), b); err != nil {
					t.Fatal(err)
				}
			}
			// Shutdown flushes the buffer (an hour-long flush interval never fired).
			if err := exp.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			if len(got) != 3 {
				t.Fatalf("%d lines, want 3", len(got))
			}
			for i, b := range batches {
				single := filepath.Join(t.TempDir(), "line")
				if err := os.WriteFile(single, []byte(got[i]+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if items, _ := readItems(t, b.Signal, single); items != b.Items {
					t.Errorf("line %d: %d items, want %d", i, items, b.Items)
				}
			}
			if n := testutil.MetricValue(t, m.Registry, "otlp_exported_spans_total", "exporter", "file"); n != 10 {
				t.Errorf("exported spans %v", n)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	tests := []struct {
		name       string
		maxBackups int
	}{{"keep all", 0}, {"keep two", 2}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "traces.json")
			exp, _ := newExporter(t, file.Config{Path: path, MaxMegabytes: 1, MaxBackups: tt.maxBackups})
			const batches, per = 40, 200
			for i := range batches {
				if err := exp.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, per, i*per))); err != nil {
					t.Fatal(err)
				}
			}
			if err := exp.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			backups, err := exp.Backups()
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range append(backups, path) {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() > 1<<20 {
					t.Errorf("%s is %d bytes, over max_megabytes", filepath.Base(p), st.Size())
				}
			}
			items, lines := readItems(t, pipeline.SignalTraces, append(backups, path)...)
			if tt.maxBackups == 0 {
				if len(backups) < 2 || items != batches*per || lines != batches {
					t.Errorf("%d backups, %d items in %d lines; want every one of %d items", len(backups), items, lines, batches*per)
				}
				return
			}
			if len(backups) != tt.maxBackups {
				t.Errorf("%d backups kept, want %d", len(backups), tt.maxBackups)
			}
			if items%per != 0 || items >= batches*per || items == 0 {
				t.Errorf("%d items left after pruning", items)
			}
		})
	}
}

func TestConcurrentConsume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs.jsonl")
	exp, _ := newExporter(t, file.Config{Path: path, MaxMegabytes: 1, FlushInterval: 5 * time.Millisecond})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 25 {
				if err := exp.Consume(t.Context(), testutil.LogsBatch(testutil.Logs(1, 10, (g*25+i)*10))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := exp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	backups, _ := exp.Backups()
	if items, lines := readItems(t, pipeline.SignalLogs, append(backups, path)...); items != 1000 || lines != 100 {
		t.Errorf("%d items in %d lines, want 1000 in 100", items, lines)
	}
}

func TestLifecycleAndErrors(t *testing.T) {
	m := selftel.New()
	exp, err := file.New(file.Config{Path: filepath.Join(t.TempDir(), "x.jsonl")}, file.Settings{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	b := testutil.TracesBatch(testutil.Traces(1, 1, 0))
	if err := exp.Consume(t.Context(), b); !errors.Is(err, file.ErrNotRunning) {
		t.Errorf("Consume before Start: %v", err)
	}
	_ = exp.Start(t.Context())
	if err := exp.Consume(t.Context(), pipeline.Batch{Signal: pipeline.SignalTraces, Body: []byte{0x0a, 0x07}, Items: 3}); !resilience.IsPermanent(err) {
		t.Errorf("malformed body: %v, want permanent", err)
	}
	for range 2 {
		if err := exp.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if err := exp.Consume(t.Context(), b); !errors.Is(err, file.ErrNotRunning) {
		t.Errorf("Consume after Shutdown: %v", err)
	}
	for _, tc := range []struct {
		cfg  file.Config
		want string
	}{
		{file.Config{}, "path:"},
		{file.Config{Path: "x", MaxMegabytes: -1}, "max_megabytes:"},
		{file.Config{Path: "x", MaxBackups: -1}, "max_backups:"},
		{file.Config{Path: "x", FlushInterval: -1}, "flush_interval:"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Validate(%+v): %v, want %s", tc.cfg, err, tc.want)
		}
	}
}

// Strings that are not valid UTF-8 (OTLP senders do send them) are written with U+FFFD in
// their place, so every line is valid JSON for strict readers; the rest of the line is kept.
func TestInvalidUTF8WrittenAsReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.jsonl")
	exp, _ := newExporter(t, file.Config{Path: path})
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc\xff\xfe")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("GET /caf\xc3")
	sp.Attributes().PutStr("ok", "valid ünïcode")
	if err := exp.Consume(t.Context(), testutil.TracesBatch(td)); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(data) || !json.Valid(bytes.TrimSpace(data)) {
		t.Fatalf("line is not valid UTF-8 JSON: %q", data)
	}
	got, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(bytes.TrimSpace(data))
	if err != nil {
		t.Fatal(err)
	}
	rs = got.ResourceSpans().At(0)
	name, _ := rs.Resource().Attributes().Get("service.name")
	sp = rs.ScopeSpans().At(0).Spans().At(0)
	ok, _ := sp.Attributes().Get("ok")
	if name.Str() != "svc\uFFFD" || sp.Name() != "GET /caf\uFFFD" || ok.Str() != "valid ünïcode" {
		t.Fatalf("read back %q, %q, %q", name.Str(), sp.Name(), ok.Str())
	}
}
