package main

// The agent suite (bench/agent.sh): our otlp-agent's durable disk queue against the Collector's
// persistent sending queue on the file_storage extension, under the same telemetrygen load, at
// two durability settings, each against its twin (batching after the queue on both sides, or a
// batch processor acknowledging from memory on both), plus the loss scenario: the sink down
// while spans are sent, the Collector at its default retry window (5 minutes) and at
// max_elapsed_time 0 (never give up), ours at its defaults.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// agentShapes are the agent suite's shapes; each pipeline name is a config key of agentTargets.
func agentShapes(o options) map[string]shape {
	return map[string]shape{
		"agent-durable":  {Name: "agent-durable", Pipeline: "durable", Spans: o.Spans, Disk: true},
		"agent-interval": {Name: "agent-interval", Pipeline: "interval", Spans: o.Spans, Disk: true},
		// Acknowledging from memory as the Collector does: what ack_after_flush costs.
		"agent-durable-memack": {Name: "agent-durable-memack", Pipeline: "durable-memack", Spans: o.Spans, Disk: true},
		"agent-loss":           {Name: "agent-loss", Pipeline: "loss", Spans: o.LossSpans, Disk: true, Loss: true},
		"agent-loss-unbounded": {Name: "agent-loss-unbounded", Pipeline: "loss-unbounded", Spans: o.LossSpans, Disk: true, Loss: true},
	}
}

// agentTargets are the Collector built with file_storage and our otlp-agent, with the configs of
// o.ConfigDir (bench/agent).
func agentTargets(o options) (theirs, ours target, err error) {
	metrics := "http://" + o.OtelcolAdmin + "/metrics"
	theirs = target{
		Name: "otelcol",
		Bin:  o.Otelcol,
		Configs: map[string]string{
			"durable":        filepath.Join(o.ConfigDir, "otelcol-durable-qbatch.yaml"),
			"durable-memack": filepath.Join(o.ConfigDir, "otelcol-durable.yaml"),
			"interval":       filepath.Join(o.ConfigDir, "otelcol-interval.yaml"),
			"loss":           filepath.Join(o.ConfigDir, "otelcol-loss.yaml"),
			"loss-unbounded": filepath.Join(o.ConfigDir, "otelcol-loss-unbounded.yaml"),
		},
		ReadyURL: metrics,
		// Batches whose retries ran out; the persistent queue deletes them.
		Dropped: counter{URL: metrics, Metric: "otelcol_exporter_send_failed_spans", Labels: map[string]string{"exporter": "otlp_grpc"}},
		Durability: map[string]string{
			"durable":        "file_storage fsync:true, sending_queue.batch",
			"durable-memack": "file_storage fsync:true, batch processor",
			"interval":       "file_storage fsync:false, sending_queue.batch",
			"loss":           "file_storage fsync:true, retry 5m (default)",
			"loss-unbounded": "file_storage fsync:true, retry max_elapsed_time:0",
		},
	}
	if o.Ours != "otlp" {
		return theirs, ours, fmt.Errorf("-ours %q: the agent suite compares otlp-agent only", o.Ours)
	}
	admin := "http://" + o.OtlpAdmin
	ours = target{
		Name: "otlp-agent",
		Bin:  o.OtlpAgent,
		Configs: map[string]string{
			"durable":        filepath.Join(o.ConfigDir, "agent-durable.toml"),
			"durable-memack": filepath.Join(o.ConfigDir, "agent-durable-memack.toml"),
			"interval":       filepath.Join(o.ConfigDir, "agent-interval.toml"),
			"loss":           filepath.Join(o.ConfigDir, "agent-durable.toml"),
			"loss-unbounded": filepath.Join(o.ConfigDir, "agent-durable.toml"),
		},
		ReadyURL: admin + "/ready",
		// /ready reports the exporter unhealthy while the sink is down.
		LiveURL: admin + "/health",
		Dropped: counter{URL: admin + "/metrics", Metric: "otlp_dropped_spans_total"},
		Durability: map[string]string{
			"durable":        `disk fsync="always", sending_queue.batch`,
			"durable-memack": `disk fsync="always", batch processor, ack from memory`,
			"interval":       `disk fsync="interval" 1s, sending_queue.batch`,
			"loss":           `disk fsync="always", retry until delivered (default)`,
			"loss-unbounded": `disk fsync="always", retry until delivered (default)`,
		},
	}
	return theirs, ours, nil
}

// runLoss is the loss scenario for one target: with the sink down, start the collector and send
// s.Spans; keep the sink down for opts.Outage after the load ended; start the sink and wait
// until every span arrived or was reported dropped, or nothing moved for opts.LossStall.
// The sink stays up afterwards.
func (rn *runner) runLoss(ctx context.Context, t target, s shape) (res result) {
	res = result{Shape: s.Name, Target: t.Name, Queue: t.Durability[s.Pipeline]}
	traces := s.Spans / int64(1+rn.opts.ChildSpans)
	res.Sent = traces * int64(1+rn.opts.ChildSpans)
	fmt.Fprintf(rn.stdout, "run %s %s: %d spans, sink down until %v after the load\n", s.Name, t.Name, res.Sent, rn.opts.Outage)

	cfg, ok := t.Configs[s.Pipeline]
	if !ok {
		res.Err = fmt.Errorf("%s has no %q config", t.Name, s.Pipeline)
		return res
	}
	if err := rn.stopSink(); err != nil {
		res.Err = fmt.Errorf("stop sink: %w", err)
		return res
	}
	down := time.Now()
	logDir := filepath.Join(rn.opts.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		res.Err = err
		return res
	}
	logf, err := os.Create(filepath.Join(logDir, s.Name+"-"+t.Name+".log"))
	if err != nil {
		res.Err = err
		return res
	}
	defer logf.Close()
	env, cleanup, err := rn.queueDir(s, t)
	if err != nil {
		res.Err = err
		return res
	}
	defer cleanup()
	if rn.opts.GOGC != "" {
		env = append(env, "GOGC="+rn.opts.GOGC)
	}
	p, err := startProc(t.Bin, []string{"--config", cfg}, env, logf)
	if err != nil {
		res.Err = err
		return res
	}
	defer func() {
		if err := p.stop(10 * time.Second); err != nil && res.Err == nil {
			res.Err = fmt.Errorf("%s did not stop cleanly: %w", t.Name, err)
		}
		// Later runs expect a sink, also when this one failed early.
		if rn.sinkProc == nil {
			res.Err = errors.Join(res.Err, rn.startSink(ctx))
		}
	}()
	live := t.LiveURL
	if live == "" {
		live = t.ReadyURL
	}
	if err := rn.waitReady(ctx, p, live); err != nil {
		res.Err = fmt.Errorf("%s not ready: %w", t.Name, err)
		return res
	}
	if res.ReadyRSS, err = procRSS(p.pid()); err != nil {
		res.Err = err
		return res
	}
	cpu0, err := procCPU(p.pid())
	if err != nil {
		res.Err = err
		return res
	}
	io0, err := procIO(p.pid())
	if err != nil {
		res.Err = err
		return res
	}

	genLog, err := os.Create(filepath.Join(logDir, s.Name+"-"+t.Name+".telemetrygen.log"))
	if err != nil {
		res.Err = err
		return res
	}
	defer genLog.Close()
	res.Load, res.GenCPU, res.GenRSS, err = rn.generate(ctx, traces, s, genLog)
	if err != nil {
		res.Err = fmt.Errorf("telemetrygen: %w", err)
	}

	outage := time.NewTimer(rn.opts.Outage)
	defer outage.Stop()
	select {
	case <-ctx.Done():
		res.Err = errors.Join(res.Err, ctx.Err())
		return res
	case <-p.exited:
		res.Err = errors.Join(res.Err, fmt.Errorf("%s exited during the outage: %w", t.Name, p.err))
		return res
	case <-outage.C:
	}
	if err := rn.startSink(ctx); err != nil {
		res.Err = errors.Join(res.Err, err)
		return res
	}
	res.Down = time.Since(down)
	start := time.Now()
	arrived, dropped, werr := rn.waitSettled(ctx, p, t.Dropped, res.Sent)
	res.Arrived, res.Dropped, res.Settle = arrived, dropped, time.Since(start)
	if werr != nil && res.Err == nil {
		res.Err = werr
	}
	cpu1, err := procCPU(p.pid())
	if err != nil {
		res.Err = errors.Join(res.Err, fmt.Errorf("%s gone before measuring: %w", t.Name, err))
		return res
	}
	res.CPU = cpu1 - cpu0
	io1, err := procIO(p.pid())
	res.Err = errors.Join(res.Err, err)
	res.Disk = ioBytes{Write: io1.Write - io0.Write, Cancelled: io1.Cancelled - io0.Cancelled}
	res.PeakRSS, err = procPeakRSS(p.pid())
	res.Err = errors.Join(res.Err, err)
	return res
}

// waitSettled polls the (freshly started) sink and the collector's drop counter until every
// one of want spans arrived or was reported dropped, nothing moved for opts.LossStall, or the
// collector exits. Running out of patience is not an error here: the spans still missing are
// the loss.
func (rn *runner) waitSettled(ctx context.Context, p *proc, dropped counter, want int64) (arrived, gone int64, err error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastMove := time.Now()
	for {
		n, err := rn.sink.read(ctx, rn.hc)
		if err != nil {
			return arrived, gone, err
		}
		d, err := dropped.read(ctx, rn.hc)
		if err != nil {
			return arrived, gone, err
		}
		if n != arrived || d != gone {
			arrived, gone, lastMove = n, d, time.Now()
		}
		if arrived >= want || arrived+gone >= want || time.Since(lastMove) > rn.opts.LossStall {
			return arrived, gone, nil
		}
		select {
		case <-ctx.Done():
			return arrived, gone, ctx.Err()
		case <-p.exited:
			return arrived, gone, fmt.Errorf("collector exited: %w", p.err)
		case <-tick.C:
		}
	}
}

// diskPerSpan is the bytes written to storage per span sent.
func (r result) diskPerSpan() float64 { return ratio(float64(r.Disk.Write), float64(r.Sent)) }

// agentLost is what the contract line reports for a shape: our lost spans, and for
// agent-durable also those of the loss scenario (which runs the same agent config).
func agentLost(p pair, pairs []pair) int64 {
	lost := p.lost()
	if p.Shape == "agent-durable" {
		for _, q := range pairs {
			if isLoss(q.Shape) {
				lost += q.lost()
			}
		}
	}
	return lost
}

func isLoss(shape string) bool { return strings.HasPrefix(shape, "agent-loss") }

// reportAgent prints the agent suite's tables, verdicts and contract lines (agent-durable's
// last) and saves results.tsv and ratios.txt into dir.
func reportAgent(w io.Writer, dir string, pairs []pair) error {
	fmt.Fprintln(w)
	if err := writeAgentTable(w, pairs); err != nil {
		return err
	}
	fmt.Fprintln(w)
	var tail strings.Builder
	writeAgentVerdicts(&tail, pairs)
	writeAgentRatios(&tail, pairs)
	if err := saveAgentResults(dir, pairs, tail.String()); err != nil {
		return err
	}
	_, err := io.WriteString(w, tail.String())
	return err
}

func writeAgentTable(w io.Writer, pairs []pair) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tcollector\tqueue\tsent\tarrived\tlost\tdropped\tcpu_s\tspans/cpu_s\tready_rss_MiB\tpeak_rss_MiB\tdisk_B/span\tload_s\tspans/s\tsettle_s\t")
	for _, p := range pairs {
		for _, r := range p.results() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.1f\t%.0f\t%.2f\t%.0f\t%s\t\n",
				r.Shape, r.Target, r.Queue, r.Sent, r.Arrived, r.Lost(), r.Dropped, r.CPU.Seconds(), r.SpansPerCPU(),
				float64(r.ReadyRSS)/mib, float64(r.PeakRSS)/mib, r.diskPerSpan(), r.Load.Seconds(),
				ratio(float64(r.Arrived), r.Load.Seconds()), settle(r))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range pairs {
		for _, r := range p.results() {
			if r.Err != nil {
				fmt.Fprintf(w, "error %s %s: %v\n", r.Shape, r.Target, r.Err)
			}
		}
	}
	return nil
}

func settle(r result) string {
	if r.Settle == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", r.Settle.Seconds())
}

// writeAgentVerdicts prints, per shape, the figures against the targets: throughput
// per CPU-second at least twice the Collector's, and nothing lost. For the loss scenarios it
// reports what each side lost; the verdict is about ours only.
func writeAgentVerdicts(w io.Writer, pairs []pair) {
	for _, p := range pairs {
		ok := !p.failed() && p.lost() == 0
		if isLoss(p.Shape) {
			fmt.Fprintf(w, "target %s: lost %d (want 0) after %.0fs with the sink down; the Collector (%s) lost %d and reported %d dropped: %s\n",
				p.Shape, p.lost(), p.Ours.Down.Seconds(), p.Theirs.Queue, p.Theirs.Lost(), p.Theirs.Dropped, metText(ok))
			continue
		}
		ok = ok && p.cpuRatio() >= targetSpeedup
		dt, do := p.medians(result.diskPerSpan)
		fmt.Fprintf(w, "target %s: spans_per_cpu %.2fx (want >= %.1f), peak_rss %.2fx, disk_bytes_per_span %.2fx, lost %d (want 0), medians of %d rounds: %s\n",
			p.Shape, p.cpuRatio(), targetSpeedup, p.rssRatio(), ratio(do, dt), p.lost(), len(p.rounds()), metText(ok))
	}
}

func metText(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// writeAgentRatios prints the contract lines, ours over theirs: the other shapes, then
// agent-durable's, then the loss line.
func writeAgentRatios(w io.Writer, pairs []pair) {
	var last *pair
	var outage float64
	defaultLost, unboundedLost, oursLost := int64(-1), int64(-1), int64(0)
	for i, p := range pairs {
		switch p.Shape {
		case "agent-loss":
			defaultLost, outage = p.Theirs.Lost(), max(outage, p.Ours.Down.Seconds(), p.Theirs.Down.Seconds())
			oursLost += p.lost()
			continue
		case "agent-loss-unbounded":
			unboundedLost, outage = p.Theirs.Lost(), max(outage, p.Ours.Down.Seconds(), p.Theirs.Down.Seconds())
			oursLost += p.lost()
			continue
		case "agent-durable":
			last = &pairs[i]
			continue
		}
		fmt.Fprintf(w, "ratio %s spans_per_cpu=%.2f peak_rss=%.2f lost=%d\n", p.Shape, p.cpuRatio(), p.rssRatio(), agentLost(p, pairs))
	}
	if last != nil {
		fmt.Fprintf(w, "ratio %s spans_per_cpu=%.2f peak_rss=%.2f lost=%d\n", last.Shape, last.cpuRatio(), last.rssRatio(), agentLost(*last, pairs))
	}
	if defaultLost >= 0 || unboundedLost >= 0 {
		// -1: that scenario did not run.
		fmt.Fprintf(w, "loss outage_s=%.0f collector_default_lost=%d collector_unbounded_lost=%d ours_lost=%d\n", outage, defaultLost, unboundedLost, oursLost)
	}
}

func saveAgentResults(dir string, pairs []pair, tail string) error {
	var b strings.Builder
	fmt.Fprintln(&b, "shape\tcollector\tqueue\tsent\tarrived\tlost\tdropped\tcpu_seconds\tspans_per_cpu_second\tready_rss_bytes\tpeak_rss_bytes\twrite_bytes\tcancelled_write_bytes\tload_seconds\tsettle_seconds\tgen_cpu_seconds\tgen_peak_rss_bytes\terror")
	for _, p := range pairs {
		for _, r := range p.results() {
			errText := ""
			if r.Err != nil {
				errText = fmt.Sprintf("%q", r.Err.Error())
			}
			fmt.Fprintf(&b, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.3f\t%.0f\t%d\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%d\t%s\n",
				r.Shape, r.Target, r.Queue, r.Sent, r.Arrived, r.Lost(), r.Dropped, r.CPU.Seconds(), r.SpansPerCPU(),
				r.ReadyRSS, r.PeakRSS, r.Disk.Write, r.Disk.Cancelled, r.Load.Seconds(), r.Settle.Seconds(),
				r.GenCPU.Seconds(), r.GenRSS, errText)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "results.tsv"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "ratios.txt"), []byte(tail), 0o644)
}
