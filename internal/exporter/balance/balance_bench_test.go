package balance_test

import (
	"context"
	"testing"

	"github.com/otlp-dev/otlp/internal/exporter/balance"
	"github.com/otlp-dev/otlp/internal/lb"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

type nullClient struct{}

func (nullClient) Consume(context.Context, pipeline.Batch) error { return nil }
func (nullClient) Close() error                                  { return nil }

// BenchmarkRouter is the routing cost of one attempt of 512 spans (64 traces) over 4
// endpoints whose clients cost nothing: a whole batch round robin, or cut by trace id into 4
// parts sent in parallel.
func BenchmarkRouter(b *testing.B) {
	bt := testutil.TracesBatch(testutil.Traces(4, 128, 0))
	for _, policy := range []string{lb.PolicyRoundRobin, lb.PolicyConsistentHash} {
		b.Run(policy, func(b *testing.B) {
			cfg := lbConfig(policy, "a:4317", "b:4317", "c:4317", "d:4317")
			r, err := balance.New(cfg, balance.Settings{Dial: func(string) (balance.Client, error) { return nullClient{}, nil }})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(bt.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Consume(b.Context(), bt); err != nil {
					b.Fatal(err)
				}
			}
			_ = r.Shutdown(context.Background())
		})
	}
}
