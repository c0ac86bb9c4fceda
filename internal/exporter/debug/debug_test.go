package debug_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/debug"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/testutil"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestBasicAndDetailed(t *testing.T) {
	tests := []struct {
		verbosity string
		batch     pipeline.Batch
		resources int
		itemMsg   string
	}{
		{debug.VerbosityBasic, testutil.TracesBatch(testutil.Traces(2, 3, 0)), 2, ""},
		{debug.VerbosityDetailed, testutil.TracesBatch(testutil.Traces(2, 3, 0)), 2, "span"},
		{debug.VerbosityDetailed, testutil.MetricsBatch(testutil.Metrics(3, 2, 0)), 3, "data point"},
		{debug.VerbosityDetailed, testutil.LogsBatch(testutil.Logs(1, 4, 0)), 1, "log record"},
	}
	for _, tt := range tests {
		t.Run(tt.verbosity+"/"+tt.batch.Signal.String(), func(t *testing.T) {
			var buf bytes.Buffer
			m := selftel.New()
			exp, err := debug.New(debug.Config{Verbosity: tt.verbosity}, debug.Settings{
				Name: "debug", Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			if err := exp.Consume(t.Context(), tt.batch); err != nil {
				t.Fatal(err)
			}
			got := lines(t, &buf)
			want := 1
			if tt.itemMsg != "" {
				want += tt.batch.Items
			}
			if len(got) != want {
				t.Fatalf("%d lines, want %d:\n%s", len(got), want, buf.String())
			}
			last := got[len(got)-1]
			if last["msg"] != "batch" || last["signal"] != tt.batch.Signal.String() ||
				last["items"] != float64(tt.batch.Items) || last["resources"] != float64(tt.resources) ||
				last["bytes"] != float64(len(tt.batch.Body)) || last["level"] != "INFO" {
				t.Errorf("summary line %v", last)
			}
			for i, l := range got[:len(got)-1] {
				if l["msg"] != tt.itemMsg || l["resource"] == nil || l["scope"] != "otlp.test" {
					t.Errorf("item line %d: %v", i, l)
				}
			}
			if tt.batch.Signal == pipeline.SignalTraces && tt.itemMsg != "" && got[0]["span_id"] != testutil.SpanID(0).String() {
				t.Errorf("first span line %v", got[0])
			}
			item := map[pipeline.Signal]string{pipeline.SignalTraces: "spans", pipeline.SignalMetrics: "metric_points", pipeline.SignalLogs: "log_records"}[tt.batch.Signal]
			if n := testutil.MetricValue(t, m.Registry, "otlp_exported_"+item+"_total", "exporter", "debug"); n != float64(tt.batch.Items) {
				t.Errorf("exported %v", n)
			}
		})
	}
}

func TestMalformedIsPermanent(t *testing.T) {
	m := selftel.New()
	exp, _ := debug.New(debug.Config{Verbosity: debug.VerbosityDetailed}, debug.Settings{Name: "debug", Metrics: m})
	err := exp.Consume(t.Context(), pipeline.Batch{Signal: pipeline.SignalLogs, Body: []byte{0x0a, 0x09, 1}, Items: 5})
	if !resilience.IsPermanent(err) {
		t.Errorf("Consume: %v, want permanent", err)
	}
	if n := testutil.MetricValue(t, m.Registry, "otlp_dropped_log_records_total", "reason", selftel.ReasonExportFailed); n != 5 {
		t.Errorf("dropped %v", n)
	}
}

func TestValidate(t *testing.T) {
	if err := debug.NewDefaultConfig().Validate(); err != nil {
		t.Error(err)
	}
	if err := (debug.Config{Verbosity: "loud"}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "verbosity:") {
		t.Errorf("Validate: %v", err)
	}
}
