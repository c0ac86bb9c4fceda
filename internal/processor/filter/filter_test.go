package filter

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "at least one condition is required"},
		{Config{ErrorMode: "loud", Logs: Logs{LogRecord: []string{"true"}}}, `error_mode: "loud"`},
		{Config{Traces: Traces{Span: []string{`name == "a"`, `nme == "b"`}}}, "traces.span[1]: condition"},
		{Config{Metrics: Metrics{DataPoint: []string{`severity_number > 1`}}}, "path severity_number does not exist in the datapoint context"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.cfg, err, c.want)
		}
	}
}

type last struct {
	md    pmetric.Metrics
	calls int
}

func (l *last) Consume(_ context.Context, b pipeline.Batch) error {
	md, err := (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b.Body)
	l.md = md
	l.calls++
	return err
}

// A metric whose points are all dropped goes with them, and a batch left empty is not passed on.
func TestDropsEmptiedMetricsAndBatches(t *testing.T) {
	md := pmetric.NewMetrics()
	ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	for _, name := range []string{"keep", "gone"} {
		m := ms.AppendEmpty()
		m.SetName(name)
		pts := m.SetEmptyGauge().DataPoints()
		for i := range 3 {
			dp := pts.AppendEmpty()
			dp.SetIntValue(int64(i))
			if name == "gone" || i == 0 {
				dp.Attributes().PutStr("env", "test")
			}
		}
	}
	body, _ := (&pmetric.ProtoMarshaler{}).MarshalMetrics(md)
	out := &last{}
	p, err := New(Config{Metrics: Metrics{DataPoint: []string{`attributes["env"] == "test"`}}}, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalMetrics, Body: body, Items: 6}); err != nil {
		t.Fatal(err)
	}
	got := out.md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	if got.Len() != 1 || got.At(0).Name() != "keep" || got.At(0).Gauge().DataPoints().Len() != 2 {
		t.Fatalf("left %d metrics", got.Len())
	}
	out.calls = 0
	p, _ = New(Config{Metrics: Metrics{Metric: []string{`true`}}}, out)
	if err := p.Consume(context.Background(), pipeline.Batch{Signal: pipeline.SignalMetrics, Body: body, Items: 6}); err != nil {
		t.Fatal(err)
	}
	if out.calls != 0 {
		t.Fatal("an emptied batch was passed on")
	}
}
