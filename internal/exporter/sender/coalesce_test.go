package sender_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

// recorder keeps every batch it is handed, as delivered.
type recorder struct {
	mu      sync.Mutex
	batches []pipeline.Batch // guarded by mu
	got     chan int         // items of each batch, when not nil
}

func (r *recorder) Consume(_ context.Context, b pipeline.Batch) error {
	r.mu.Lock()
	r.batches = append(r.batches, pipeline.Batch{Signal: b.Signal, Items: b.Items, Body: slices.Clone(b.Body)})
	r.mu.Unlock()
	if r.got != nil {
		r.got <- b.Items
	}
	return nil
}

func (r *recorder) all() []pipeline.Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

func batched(q sender.QueueConfig, minSize int, timeout time.Duration) sender.QueueConfig {
	q.Batch = sender.NewDefaultBatchConfig()
	q.Batch.Enabled, q.Batch.MinSize, q.Batch.FlushTimeout = true, minSize, timeout
	return q
}

// spanIDs decodes an export request and lists its span ids' first bytes, in order.
func spanIDs(t *testing.T, body []byte) []int {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatalf("merged body is not an export request: %v", err)
	}
	var ids []int
	rss := req.Traces().ResourceSpans()
	for i := range rss.Len() {
		sss := rss.At(i).ScopeSpans()
		for j := range sss.Len() {
			sps := sss.At(j).Spans()
			for k := range sps.Len() {
				id := sps.At(k).SpanID()
				ids = append(ids, int(id[6])<<8|int(id[7]))
			}
		}
	}
	return ids
}

// TestBatchMergesQueuedRequests: requests queued on disk leave as one export request holding
// every span, in order, once min_size is reached, without waiting for the flush timeout.
func TestBatchMergesQueuedRequests(t *testing.T) {
	for _, storage := range []string{sender.StorageMemory, sender.StorageDisk} {
		t.Run(storage, func(t *testing.T) {
			q := queue(1000, sender.PolicyBlock)
			if storage == sender.StorageDisk {
				q = diskQueue(t.TempDir())
			}
			rec := &recorder{got: make(chan int, 4)}
			s, m := newSender(t, rec, sender.Config{Queue: batched(q, 12, time.Hour), Retry: fastRetry()})
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				if err := s.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 3, i*3))); err != nil {
					t.Fatal(err)
				}
			}
			<-rec.got
			if err := s.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := rec.all()
			if len(got) != 1 || got[0].Items != 12 {
				t.Fatalf("exports %d, first of %d items: want one of 12", len(got), got[0].Items)
			}
			if ids := spanIDs(t, got[0].Body); !slices.Equal(ids, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
				t.Errorf("span ids %v, want 1..12 in order", ids)
			}
			if c := read(t, m); c.exported != 12 {
				t.Errorf("counts %+v, want 12 exported", c)
			}
		})
	}
}

// TestBatchFlushTimeout: a lone request waits flush_timeout for company, then goes alone.
func TestBatchFlushTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{got: make(chan int, 4)}
		s, _ := newSender(t, rec, sender.Config{Queue: batched(queue(1000, sender.PolicyBlock), 100, time.Second), Retry: fastRetry()})
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := s.Consume(t.Context(), batch(5)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if err := s.Consume(t.Context(), batch(7)); err != nil {
			t.Fatal(err)
		}
		if n := <-rec.got; n != 12 {
			t.Errorf("export of %d items, want 12", n)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("exported after %s, want the flush timeout (1s) after the first item", d)
		}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestBatchBounds: max_size, max_bytes and a change of signal close an export; the item that
// did not fit starts the next one, and nothing is lost or reordered.
func TestBatchBounds(t *testing.T) {
	metrics := pipeline.Batch{Signal: pipeline.SignalMetrics, Body: make([]byte, 10), Items: 1}
	for _, tt := range []struct {
		name   string
		set    func(*sender.BatchConfig)
		in     []pipeline.Batch
		want   []int
		signal []pipeline.Signal
	}{
		{"max_size", func(c *sender.BatchConfig) { c.MinSize, c.MaxSize = 10, 10 }, []pipeline.Batch{batch(4), batch(4), batch(4), batch(4)}, []int{8, 8}, nil},
		{"max_bytes", func(c *sender.BatchConfig) { c.MaxBytes = 100 }, []pipeline.Batch{batch(6), batch(6), batch(3)}, []int{6, 9}, nil},
		{"larger than max_size goes alone", func(c *sender.BatchConfig) { c.MinSize, c.MaxSize = 10, 10 }, []pipeline.Batch{batch(2), batch(30), batch(2)}, []int{2, 30, 2}, nil},
		{"signal", func(*sender.BatchConfig) {}, []pipeline.Batch{batch(2), metrics, batch(2)}, []int{2, 1, 2},
			[]pipeline.Signal{pipeline.SignalTraces, pipeline.SignalMetrics, pipeline.SignalTraces}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := batched(queue(1000, sender.PolicyBlock), 1000, 0)
			tt.set(&q.Batch)
			rec := &recorder{}
			s, _ := newSender(t, rec, sender.Config{Queue: q, Retry: fastRetry()})
			for _, b := range tt.in {
				if err := s.Consume(t.Context(), b); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := s.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			var items []int
			var sigs []pipeline.Signal
			for _, b := range rec.all() {
				items, sigs = append(items, b.Items), append(sigs, b.Signal)
			}
			if !slices.Equal(items, tt.want) {
				t.Errorf("exports of %v items, want %v", items, tt.want)
			}
			if tt.signal != nil && !slices.Equal(sigs, tt.signal) {
				t.Errorf("signals %v, want %v", sigs, tt.signal)
			}
		})
	}
}

// TestBatchOnDiskSurvivesFailure: a merged export that keeps failing goes back to the disk
// queue part by part; after a restart every span is delivered once, in order.
func TestBatchOnDiskSurvivesFailure(t *testing.T) {
	dir := t.TempDir()
	q := batched(diskQueue(dir), 9, time.Hour)
	q.Batch.FlushTimeout = time.Hour
	retried := make(chan struct{})
	down := &fakeNext{fn: func(_ context.Context, attempt int, _ pipeline.Batch) error {
		if attempt == 2 {
			close(retried)
		}
		return errUnavailable
	}}
	s, m := newSender(t, down, sender.Config{Queue: q, Retry: fastRetry()})
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Consume(t.Context(), testutil.TracesBatch(testutil.Traces(1, 3, i*3))); err != nil {
			t.Fatal(err)
		}
	}
	select { // retried at least once, merged
	case <-retried:
	case <-time.After(10 * time.Second):
		t.Fatal("no retry of the merged export")
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, kept := diskCounts(t, m); kept != 9 {
		t.Fatalf("kept %v items on disk, want 9", kept)
	}

	rec := &recorder{got: make(chan int, 3)}
	s2, m2 := newSender(t, rec, sender.Config{Queue: q, Retry: fastRetry()})
	if err := s2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 9; {
		select {
		case k := <-rec.got:
			n += k
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 9 spans delivered after the restart", n)
		}
	}
	if err := s2.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, b := range rec.all() {
		ids = append(ids, spanIDs(t, b.Body)...)
	}
	if !slices.Equal(ids, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("delivered span ids %v after restart, want 1..9 once, in order", ids)
	}
	if c := read(t, m2); c.exported != 9 {
		t.Errorf("counts %+v after restart, want 9 exported", c)
	}
}

func TestBatchConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*sender.BatchConfig)
		want string
	}{
		{"min_size", func(c *sender.BatchConfig) { c.MinSize = 0 }, "sending_queue.batch.min_size: must be >= 1, got 0"},
		{"max_size", func(c *sender.BatchConfig) { c.MaxSize = 10 }, "sending_queue.batch.max_size: must be 0 or >= min_size (8192), got 10"},
		{"max_bytes", func(c *sender.BatchConfig) { c.MaxBytes = -1 }, "sending_queue.batch.max_bytes: must be >= 0, got -1"},
		{"flush_timeout", func(c *sender.BatchConfig) { c.FlushTimeout = -time.Second }, "sending_queue.batch.flush_timeout: must be >= 0, got -1s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := sender.NewDefaultQueueConfig()
			q.Batch.Enabled = true
			tt.set(&q.Batch)
			err := sender.Config{Queue: q}.Validate()
			if err == nil || err.Error() != tt.want {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
