package queue

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func benchConfig(fsync string) Config {
	c := NewDefaultConfig()
	c.Fsync = fsync
	c.FsyncInterval = time.Second
	return c
}

func reportIO(b *testing.B, q *Queue) {
	st := q.Stats()
	b.ReportMetric(float64(st.Writes)/float64(b.N), "writes/op")
	b.ReportMetric(float64(st.Syncs)/float64(b.N), "fsyncs/op")
	b.ReportMetric(float64(st.DiskReads)/float64(b.N), "reads/op")
}

// BenchmarkPutGetAck is one item through the queue: Put, Get (from memory), Ack.
func BenchmarkPutGetAck(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		for _, fsync := range []string{FsyncNever, FsyncInterval, FsyncAlways} {
			b.Run(fmt.Sprintf("%dKiB/fsync=%s", size>>10, fsync), func(b *testing.B) {
				q, err := Open(b.TempDir(), benchConfig(fsync), Settings{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				defer q.Close()
				item := pipeline.Batch{Signal: pipeline.SignalTraces, Body: payload(1, size), Items: 100}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := q.Put(ctx, item); err != nil {
						b.Fatal(err)
					}
					d, err := q.Get(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if err := d.Ack(); err != nil {
						b.Fatal(err)
					}
				}
				reportIO(b, q)
			})
		}
	}
}

// BenchmarkPutGetAckParallel runs Put+Get+Ack from several goroutines: with fsync = "always",
// concurrent Puts share fsyncs (group commit).
func BenchmarkPutGetAckParallel(b *testing.B) {
	const size = 100 << 10
	for _, fsync := range []string{FsyncNever, FsyncAlways} {
		b.Run("100KiB/fsync="+fsync, func(b *testing.B) {
			q, err := Open(b.TempDir(), benchConfig(fsync), Settings{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			item := pipeline.Batch{Signal: pipeline.SignalTraces, Body: payload(1, size), Items: 100}
			b.SetBytes(size)
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := q.Put(ctx, item); err != nil {
						b.Error(err)
						return
					}
					d, err := q.Get(ctx)
					if err != nil {
						b.Error(err)
						return
					}
					if err := d.Ack(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportIO(b, q)
		})
	}
}

// BenchmarkBacklog puts a backlog larger than the memory budget, then drains it: the
// consumer reads most records back from disk.
func BenchmarkBacklog(b *testing.B) {
	const size, batch = 100 << 10, 256 // 25 MiB per round, 8 MiB of it in memory
	cfg := benchConfig(FsyncNever)
	cfg.MaxMemoryMiB = 8
	q, err := Open(b.TempDir(), cfg, Settings{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	item := pipeline.Batch{Signal: pipeline.SignalTraces, Body: payload(1, size), Items: 100}
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := q.Put(ctx, item); err != nil {
			b.Fatal(err)
		}
		if i%batch == batch-1 {
			for range batch {
				d, err := q.Get(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Ack(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	reportIO(b, q)
}

// BenchmarkOpen measures recovery: scanning a queue of 200 records of 100 KiB (20 MiB) left
// by a previous run.
func BenchmarkOpen(b *testing.B) {
	dir := b.TempDir()
	set := Settings{Logger: slog.New(slog.DiscardHandler)}
	cfg := benchConfig(FsyncNever)
	q, err := Open(dir, cfg, set)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		if err := q.Put(context.Background(), pipeline.Batch{Body: payload(i, 100<<10), Items: 1}); err != nil {
			b.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		q, err := Open(dir, cfg, set)
		if err != nil {
			b.Fatal(err)
		}
		if q.Stats().Records != 200 {
			b.Fatal("records lost")
		}
		if err := q.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
