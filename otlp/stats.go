package otlp

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Stats is what the client did with the telemetry it was given. For each signal, once the
// client is shut down: Accepted = Exported + sum(Dropped) + Kept (what a disk buffer holds for
// the next start). Exported counts deliveries, so a retry after a lost acknowledgement can
// count an item twice.
type Stats struct {
	Traces, Metrics, Logs SignalStats
	// Buffered is the items in memory, not yet encoded into the sending queue.
	Buffered int64
	// Queued is the items in the sending queues (memory or disk), being sent included.
	Queued int64
	// Kept is the items a disk buffer kept at the last shutdown.
	Kept int64
	// Retries counts failed export attempts that were retried.
	Retries int64
	// Endpoints is the state of each collector endpoint.
	Endpoints []EndpointStats
}

// SignalStats counts one signal's items (spans, metric data points or log records).
type SignalStats struct {
	// Accepted: ended sampled spans, collected data points, emitted log records.
	Accepted int64
	Exported int64
	// Dropped by reason: queue_full (buffers full), export_failed (refused for good or retries
	// exhausted), shutdown (still in memory when Shutdown's deadline passed), max_age, corrupt.
	Dropped map[string]int64
}

// DroppedTotal sums Dropped.
func (s SignalStats) DroppedTotal() int64 {
	var n int64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// EndpointStats is one collector endpoint as the balancer sees it.
type EndpointStats struct {
	Address string
	Healthy bool
	// Breaker is the circuit breaker's state: closed, open or half-open.
	Breaker   string
	Successes uint64
	Failures  uint64
}

// Stats reads the counters.
func (c *Client) Stats() Stats {
	var st Stats
	if c.tp == nil {
		return st
	}
	tot := c.m.Totals()
	for sig, s := range map[pipeline.Signal]*SignalStats{pipeline.SignalTraces: &st.Traces, pipeline.SignalMetrics: &st.Metrics, pipeline.SignalLogs: &st.Logs} {
		s.Exported = tot.Exported[sig]
		s.Dropped = tot.Dropped[sig]
	}
	st.Retries, st.Kept = tot.Retries, tot.Kept
	st.Traces.Accepted = c.spans.accepted.Load()
	st.Logs.Accepted = c.logs.accepted.Load()
	st.Metrics.Accepted = c.points.n.Load()
	st.Buffered = c.spans.buffered() + c.logs.buffered()
	c.mu.Lock()
	dests := c.dests
	c.mu.Unlock()
	for _, d := range dests {
		if q, ok := d.(queueLener); ok {
			st.Queued += int64(q.QueueLen())
		}
		if l, ok := d.(endpointLister); ok {
			for _, ep := range l.Endpoints() {
				st.Endpoints = append(st.Endpoints, EndpointStats{Address: ep.Address, Healthy: ep.Healthy,
					Breaker: ep.Breaker.String(), Successes: ep.Successes, Failures: ep.Failures})
			}
		}
	}
	return st
}

// queueLener is implemented by every destination's sender.
type queueLener interface{ QueueLen() int }

// registerSelfMetrics reports the client's own counters as OpenTelemetry metrics, exported
// with the application's: otlp.sdk.items.{accepted,exported,dropped}{signal[,reason]},
// otlp.sdk.queue.size, otlp.sdk.export.retries and otlp.sdk.endpoint.breaker.open{endpoint}.
func (c *Client) registerSelfMetrics() error {
	m := c.mp.Meter("github.com/otlp-dev/otlp/otlp")
	accepted, err1 := m.Int64ObservableCounter("otlp.sdk.items.accepted", metric.WithDescription("Items handed to the client."))
	exported, err2 := m.Int64ObservableCounter("otlp.sdk.items.exported", metric.WithDescription("Items delivered."))
	dropped, err3 := m.Int64ObservableCounter("otlp.sdk.items.dropped", metric.WithDescription("Items dropped, by reason."))
	queued, err4 := m.Int64ObservableGauge("otlp.sdk.queue.size", metric.WithDescription("Items buffered or queued, not yet delivered."))
	retries, err5 := m.Int64ObservableCounter("otlp.sdk.export.retries", metric.WithDescription("Export attempts retried."))
	open, err6 := m.Int64ObservableGauge("otlp.sdk.endpoint.breaker.open", metric.WithDescription("1 while the endpoint's circuit breaker is not closed."))
	if err := joinErrs(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := c.Stats()
		for _, s := range []struct {
			name string
			s    SignalStats
		}{{"traces", st.Traces}, {"metrics", st.Metrics}, {"logs", st.Logs}} {
			sig := attribute.String("signal", s.name)
			o.ObserveInt64(accepted, s.s.Accepted, metric.WithAttributes(sig))
			o.ObserveInt64(exported, s.s.Exported, metric.WithAttributes(sig))
			for r, n := range s.s.Dropped {
				o.ObserveInt64(dropped, n, metric.WithAttributes(sig, attribute.String("reason", r)))
			}
		}
		o.ObserveInt64(queued, st.Buffered+st.Queued)
		o.ObserveInt64(retries, st.Retries)
		for _, ep := range st.Endpoints {
			v := int64(0)
			if !strings.EqualFold(ep.Breaker, "closed") {
				v = 1
			}
			o.ObserveInt64(open, v, metric.WithAttributes(attribute.String("endpoint", ep.Address)))
		}
		return nil
	}, accepted, exported, dropped, queued, retries, open)
	return err
}

func joinErrs(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
