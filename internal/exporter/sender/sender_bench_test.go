package sender_test

import (
	"context"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

type discard struct{}

func (discard) Consume(context.Context, pipeline.Batch) error { return nil }

// BenchmarkSender measures the sending path's own cost per batch (16 KiB, 128 items) in
// front of a destination that costs nothing: synchronous, queued in memory with 4 workers, and
// queued on disk (fsync never and every second).
func BenchmarkSender(b *testing.B) {
	bt := pipeline.Batch{Signal: pipeline.SignalTraces, Body: make([]byte, 16<<10), Items: 128}
	disk := func(fsync string) sender.Config {
		q := sender.NewDefaultQueueConfig()
		q.Storage, q.Disk.Dir, q.Disk.Fsync = sender.StorageDisk, b.TempDir(), fsync
		q.Disk.MaxDiskMiB, q.Disk.SegmentMiB = 256, 16
		return sender.Config{Queue: q, Retry: sender.NewDefaultRetryConfig(), Timeout: 10 * time.Second}
	}
	for _, tc := range []struct {
		name string
		cfg  sender.Config
	}{
		{"sync", sender.Config{Retry: sender.NewDefaultRetryConfig(), Timeout: 10 * time.Second}},
		{"queued", sender.Config{Queue: sender.NewDefaultQueueConfig(), Retry: sender.NewDefaultRetryConfig(), Timeout: 10 * time.Second}},
		{"disk-never", disk("never")},
		{"disk-interval", disk("interval")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, err := sender.New(discard{}, tc.cfg, sender.Settings{Name: "bench", Metrics: selftel.New()})
			if err != nil {
				b.Fatal(err)
			}
			_ = s.Start(b.Context())
			b.SetBytes(int64(len(bt.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Consume(b.Context(), bt); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Shutdown(b.Context()); err != nil {
				b.Fatal(err)
			}
		})
	}
}
