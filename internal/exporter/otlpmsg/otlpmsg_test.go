package otlpmsg_test

import (
	"errors"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDecodeAndJSON(t *testing.T) {
	for _, b := range []pipeline.Batch{
		testutil.TracesBatch(testutil.Traces(3, 4, 0)),
		testutil.MetricsBatch(testutil.Metrics(2, 5, 0)),
		testutil.LogsBatch(testutil.Logs(4, 2, 0)),
	} {
		t.Run(b.Signal.String(), func(t *testing.T) {
			r, err := otlpmsg.Decode(b.Signal, b.Body)
			if err != nil {
				t.Fatal(err)
			}
			if r.Items() != b.Items {
				t.Errorf("items %d, want %d", r.Items(), b.Items)
			}
			n, err := otlpmsg.CountResources(b.Body)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[pipeline.Signal]int{pipeline.SignalTraces: 3, pipeline.SignalMetrics: 2, pipeline.SignalLogs: 4}[b.Signal]; n != want {
				t.Errorf("resources %d, want %d", n, want)
			}
			js, err := otlpmsg.ToJSON(b.Signal, b.Body)
			if err != nil || len(js) == 0 || js[0] != '{' {
				t.Fatalf("ToJSON: %q %v", js, err)
			}
		})
	}
	tr, _ := otlpmsg.Decode(pipeline.SignalTraces, testutil.TracesBatch(testutil.Traces(1, 2, 0)).Body)
	js, _ := tr.MarshalJSON()
	back, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(js)
	if err != nil || back.SpanCount() != 2 {
		t.Errorf("JSON round trip: %d spans, %v", back.SpanCount(), err)
	}
	if _, err := otlpmsg.Decode(pipeline.SignalTraces, []byte{0x0a, 0x05, 1}); !errors.Is(err, otlpmsg.ErrMalformed) {
		t.Errorf("truncated body: %v", err)
	}
}

func TestDecodeResponse(t *testing.T) {
	resp := ptraceotlp.NewExportResponse()
	resp.PartialSuccess().SetRejectedSpans(3)
	resp.PartialSuccess().SetErrorMessage("empty names")
	pb, _ := resp.MarshalProto()
	js, _ := resp.MarshalJSON()
	for _, tc := range []struct {
		body []byte
		json bool
	}{{pb, false}, {js, true}} {
		ps, err := otlpmsg.DecodeResponse(pipeline.SignalTraces, tc.body, tc.json)
		if err != nil || ps.Rejected != 3 || ps.Message != "empty names" {
			t.Errorf("json=%v: %+v %v", tc.json, ps, err)
		}
	}
	if ps, err := otlpmsg.DecodeResponse(pipeline.SignalLogs, nil, false); err != nil || ps != (otlpmsg.PartialSuccess{}) {
		t.Errorf("empty body: %+v %v", ps, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(1), testutil.TracesBatch(testutil.Traces(1, 2, 0)).Body)
	f.Add(uint8(2), testutil.MetricsBatch(testutil.Metrics(1, 2, 0)).Body)
	f.Add(uint8(3), testutil.LogsBatch(testutil.Logs(1, 2, 0)).Body)
	f.Add(uint8(1), []byte{0x0a, 0x80})
	f.Fuzz(func(t *testing.T, sig uint8, body []byte) {
		s := pipeline.Signal(sig%3 + 1)
		n, cerr := otlpmsg.CountResources(body)
		r, err := otlpmsg.Decode(s, body)
		if err == nil {
			// pdata tolerates some malformed input (stray group tags) that CountResources
			// refuses; when both accept a body they must agree.
			if cerr == nil && n != resources(r) {
				t.Fatalf("CountResources %d, pdata decoded %d resources", n, resources(r))
			}
			_ = r.Items()
			if _, err := r.MarshalJSON(); err != nil {
				t.Fatalf("re-encoding a decoded body: %v", err)
			}
		} else if !errors.Is(err, otlpmsg.ErrMalformed) {
			t.Fatalf("error %v does not match ErrMalformed", err)
		}
		_, _ = otlpmsg.DecodeResponse(s, body, false)
		_, _ = otlpmsg.DecodeResponse(s, body, true)
	})
}

func resources(r otlpmsg.Request) int {
	switch r.Signal {
	case pipeline.SignalTraces:
		return r.Traces.ResourceSpans().Len()
	case pipeline.SignalMetrics:
		return r.Metrics.ResourceMetrics().Len()
	case pipeline.SignalLogs:
		return r.Logs.ResourceLogs().Len()
	}
	return 0
}
