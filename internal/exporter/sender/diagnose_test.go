package sender_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

// records keeps the log records at or above Info.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) lines(level slog.Level, prefix string) []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []slog.Record
	for _, rec := range r.all {
		if rec.Level == level && strings.HasPrefix(rec.Message, prefix) {
			out = append(out, rec)
		}
	}
	return out
}

func attr(rec slog.Record, key string) string {
	v := ""
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// TestDiagnosisRateLimited: an outage of 20 minutes with hundreds of failed attempts gives one
// WARN line per cause with the fix, a reminder every 5 minutes, and one line on recovery.
func TestDiagnosisRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		refused := errors.New("dial tcp 127.0.0.1:4317: connect: connection refused")
		tlsMismatch := errors.New("rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: first record does not look like a TLS handshake\"")
		next := &fakeNext{fn: func(context.Context, int, pipeline.Batch) error {
			switch since := time.Since(start); {
			case since < 2*time.Minute:
				return tlsMismatch
			case since < 20*time.Minute:
				return refused
			}
			return nil
		}}
		logs := &records{}
		cfg := sender.Config{Queue: diskQueue(t.TempDir()), Retry: fastRetry()}
		s, err := sender.New(next, cfg, sender.Settings{Name: "test", Metrics: selftel.New(), Logger: slog.New(logs)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Consume(t.Context(), batch(5)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(21 * time.Minute)
		synctest.Wait()

		attempts := len(next.times())
		tlsLines := logs.lines(slog.LevelWarn, "export failing: TLS to an endpoint that speaks plaintext")
		refusedLines := logs.lines(slog.LevelWarn, "export failing: connection refused")
		if attempts < 100 {
			t.Fatalf("only %d attempts: the outage was not exercised", attempts)
		}
		if len(tlsLines) != 1 || !strings.Contains(attr(tlsLines[0], "fix"), "http://") {
			t.Errorf("TLS mismatch: %d WARN lines (want 1 naming http://): %v", len(tlsLines), tlsLines)
		}
		// 18 minutes refused: the first line and reminders at 5, 10 and 15 minutes.
		if len(refusedLines) != 4 {
			t.Errorf("connection refused for 18 min over %d attempts: %d WARN lines, want 4", attempts, len(refusedLines))
		}
		if got := len(logs.lines(slog.LevelWarn, "")); got != 5 {
			t.Errorf("%d WARN lines in all, want 5", got)
		}
		if rec := logs.lines(slog.LevelInfo, "export recovered"); len(rec) != 1 {
			t.Errorf("%d recovery lines, want 1", len(rec))
		}
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
