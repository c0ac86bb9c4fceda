// Command collectorbench drives bench/collector.sh: for each shape it runs the OpenTelemetry
// Collector and then our otlp-server under the same telemetrygen load, measures each
// collector's CPU time and peak RSS from /proc, counts the spans that arrived, and prints a
// table, the verdicts against the targets and one contract line per shape:
//
//	ratio <shape> spans_per_cpu=<ours/theirs> peak_rss=<ours/theirs> lost=<our lost spans>
//
// Paths default to those bench/collector.sh uses, relative to the repository root.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// errRunsFailed reports that some runs failed; their errors are already in the output.
var errRunsFailed = errors.New("some runs failed")

type options struct {
	Telemetrygen string
	Otelcol      string
	// OtelcolComponents is the Collector with the contrib processors (bench/components), for
	// the processors and tail-sampling shapes.
	OtelcolComponents string
	OtlpServer        string
	Sink              string
	ConfigDir         string
	OutDir            string
	Ours              string // "otlp", or "otelcol" to put the Collector in both slots
	Shapes            []string
	Suite             string // "collector" (bench/collector.sh) or "agent" (bench/agent.sh)
	OtlpAgent         string // our otlp-agent binary (agent suite)

	// The agent suite's loss scenario.
	// GOGC, when set, is given to both collectors' environment: the same garbage collector
	// target on both sides (ours honours GOGC over its gc_percent).
	GOGC      string
	LossSpans int64         // spans sent while the sink is down
	Outage    time.Duration // how long the sink stays down after the load ended
	LossStall time.Duration // give up waiting for the rest after this long without progress

	// Rounds runs each shape this many times on both collectors, alternating which goes first;
	// the ratios compare the medians.
	Rounds       int
	Spans        int64
	SpansAttrs10 int64 // 0: Spans/3 (each of those spans costs about three times as much)
	ChildSpans   int
	BatchSize    int

	Receiver     string // where both collectors listen for OTLP/gRPC
	SinkGRPC     string
	SinkHTTP     string
	OtelcolAdmin string // the Collector's internal Prometheus endpoint
	OtlpAdmin    string // our admin endpoint (/ready, /metrics)

	ReadyTimeout time.Duration
	LoadTimeout  time.Duration
	StallTimeout time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runMain(ctx, os.Args[1:], os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return // -h asked for the flags, which were printed: not a failure
	}
	if err != nil && !errors.Is(err, errRunsFailed) {
		// Failed runs were reported before the ratio lines, which must stay last.
		fmt.Fprintln(os.Stderr, "collectorbench:", err)
	}
	if err != nil {
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("collectorbench", flag.ContinueOnError)
	fs.StringVar(&o.Telemetrygen, "telemetrygen", "bench/out/bin/telemetrygen", "telemetrygen binary")
	fs.StringVar(&o.Otelcol, "otelcol", "bench/out/otelcol-bench/otelcol-bench", "OpenTelemetry Collector binary (agent suite default: bench/out/otelcol-agentbench/otelcol-agentbench)")
	fs.StringVar(&o.OtelcolComponents, "otelcol-components", "bench/out/otelcol-components/otelcol-components", "the Collector with contrib processors, for the processors and tail-sampling shapes")
	fs.StringVar(&o.OtlpServer, "otlp-server", "bench/out/bin/otlp-server", "our otlp-server binary")
	fs.StringVar(&o.Sink, "sink", "bench/out/bin/otlpsink", "otlpsink binary")
	fs.StringVar(&o.ConfigDir, "configs", "bench/collector", "directory of the collector configs (agent suite default: bench/agent)")
	fs.StringVar(&o.OutDir, "out", "bench/out/collector", "directory for results and logs (agent suite default: bench/out/agent)")
	fs.StringVar(&o.Suite, "suite", "collector", `"collector": otlp-server against the Collector; "agent": otlp-agent's disk queue against the Collector's persistent queue; "amplify": large requests of many envelopes (defaults below change with it)`)
	fs.StringVar(&o.OtlpAgent, "otlp-agent", "bench/out/bin/otlp-agent", "our otlp-agent binary (agent suite)")
	fs.StringVar(&o.GOGC, "gogc", "", "GOGC for both collectors (empty: each at its own default, ours gc_percent = 50, the Collector Go's 100)")
	fs.Int64Var(&o.LossSpans, "loss-spans", 20_000, "agent-loss: spans sent while the sink is down")
	fs.DurationVar(&o.Outage, "outage", 25*time.Second, "agent-loss: how long the sink stays down after the load ended (longer than 5m: past the Collector's default retry window)")
	fs.DurationVar(&o.LossStall, "loss-stall", 60*time.Second, "agent-loss: give up after this long without progress once the sink is up (our retry backoff reaches 30s ±50%)")
	fs.StringVar(&o.Ours, "ours", "otlp", `collector in the "ours" slot: otlp, or otelcol to check the bench itself`)
	shapes := fs.String("shapes", "nop,otlp,otlp-attrs10,processors,tail-sampling", "comma-separated shapes: nop, otlp, otlp-attrs10, processors, tail-sampling (agent suite: agent-durable, agent-interval, agent-durable-memack, agent-loss; default all four)")
	fs.IntVar(&o.Rounds, "rounds", 3, "runs of each shape on each collector, alternating which goes first; ratios compare medians (the loss scenarios run once)")
	fs.Int64Var(&o.Spans, "spans", 3_000_000, "spans telemetrygen sends per run (agent suite default: 300000)")
	fs.Int64Var(&o.SpansAttrs10, "spans-attrs10", 0, "spans per run of otlp-attrs10 (0: a third of -spans)")
	fs.IntVar(&o.ChildSpans, "child-spans", 1, "telemetrygen child spans per trace (a trace is 1+child-spans spans)")
	fs.IntVar(&o.BatchSize, "batch-size", 512, "telemetrygen spans per export request")
	fs.StringVar(&o.Receiver, "receiver", "127.0.0.1:14317", "OTLP/gRPC address both collectors listen on (must match the configs)")
	fs.StringVar(&o.SinkGRPC, "sink-grpc", "127.0.0.1:24317", "sink OTLP/gRPC address (must match the configs)")
	fs.StringVar(&o.SinkHTTP, "sink-http", "127.0.0.1:24380", "sink count address")
	fs.StringVar(&o.OtelcolAdmin, "otelcol-metrics", "127.0.0.1:18888", "the Collector's metrics address (must match the configs)")
	fs.StringVar(&o.OtlpAdmin, "otlp-admin", "127.0.0.1:18080", "our admin address (must match the configs)")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 30*time.Second, "how long a collector may take to start")
	fs.DurationVar(&o.LoadTimeout, "load-timeout", 10*time.Minute, "bound on one telemetrygen run")
	fs.DurationVar(&o.StallTimeout, "stall-timeout", 15*time.Second, "give up waiting for spans after this long without progress")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	// defaults sets the flags the command line left out.
	defaults := func(values map[string]string) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range values {
			if !set[name] {
				_ = fs.Set(name, v)
			}
		}
	}
	switch o.Suite {
	case "collector":
	case "agent":
		defaults(map[string]string{
			"otelcol": "bench/out/otelcol-agentbench/otelcol-agentbench",
			"configs": "bench/agent",
			"out":     "bench/out/agent",
			"shapes":  "agent-durable,agent-interval,agent-durable-memack,agent-loss,agent-loss-unbounded",
			"spans":   "300000",
			"rounds":  "3",
		})
		if o.LossSpans < int64(1+o.ChildSpans) || o.Outage <= 0 || o.LossStall <= 0 {
			return o, errors.New("need -loss-spans >= 1+child-spans, -outage > 0, -loss-stall > 0")
		}
	case "amplify":
		defaults(map[string]string{"configs": "bench/amplify", "out": "bench/out/amplify"})
	default:
		return o, fmt.Errorf("-suite %q: want collector, agent or amplify", o.Suite)
	}
	o.Shapes = strings.Split(*shapes, ",")
	if o.SpansAttrs10 == 0 {
		o.SpansAttrs10 = o.Spans / 3
	}
	if o.ChildSpans < 0 || o.Spans < int64(1+o.ChildSpans) || o.SpansAttrs10 < int64(1+o.ChildSpans) || o.BatchSize < 1 || o.Rounds < 1 {
		return o, errors.New("need -child-spans >= 0, -spans and -spans-attrs10 >= 1+child-spans, -batch-size >= 1, -rounds >= 1")
	}
	return o, nil
}

// attrs10 are ten span attributes of typical sizes for the otlp-attrs10 shape.
func attrs10() []string {
	kv := []string{
		`http.request.method="GET"`, `http.route="/api/v1/orders/{id}"`,
		`http.response.status_code=200`, `url.scheme="https"`,
		`server.address="orders.internal.example.com"`, `server.port=8443`,
		`user_agent.original="Mozilla/5.0 (X11; Linux x86_64) bench"`, `client.address="10.1.2.3"`,
		`tenant.id="tenant-0042"`, `cache.hit=false`,
	}
	args := make([]string, 0, 2*len(kv))
	for _, a := range kv {
		args = append(args, "--telemetry-attributes", a)
	}
	return args
}

func knownShapes(o options) map[string]shape {
	return map[string]shape{
		"nop":          {Name: "nop", Pipeline: "nop", Spans: o.Spans},
		"otlp":         {Name: "otlp", Pipeline: "otlp", Spans: o.Spans},
		"otlp-attrs10": {Name: "otlp-attrs10", Pipeline: "otlp", GenArgs: attrs10(), Spans: o.SpansAttrs10},
		"processors":   {Name: "processors", Pipeline: "processors", GenArgs: attrs10(), Spans: o.SpansAttrs10},
		// 5s decision wait; a run has settled once nothing arrived for 3s more than that.
		"tail-sampling": {Name: "tail-sampling", Pipeline: "tail-sampling", Spans: o.Spans, Sampled: true, Settle: 8 * time.Second},
	}
}

func targets(o options) (theirs, ours target, err error) {
	theirs = target{
		Name: "otelcol",
		Bin:  o.Otelcol,
		Configs: map[string]string{
			"nop":           filepath.Join(o.ConfigDir, "otelcol-nop.yaml"),
			"otlp":          filepath.Join(o.ConfigDir, "otelcol-otlp.yaml"),
			"processors":    filepath.Join(o.ConfigDir, "otelcol-processors.yaml"),
			"tail-sampling": filepath.Join(o.ConfigDir, "otelcol-tail-sampling.yaml"),
		},
		Bins:     map[string]string{"processors": o.OtelcolComponents, "tail-sampling": o.OtelcolComponents},
		ReadyURL: "http://" + o.OtelcolAdmin + "/metrics",
		// The nop exporter keeps no count; the receiver counts what the pipeline accepted.
		NopDelivered: counter{
			URL:    "http://" + o.OtelcolAdmin + "/metrics",
			Metric: "otelcol_receiver_accepted_spans",
			Labels: map[string]string{"receiver": "otlp"},
		},
	}
	switch o.Ours {
	case "otlp":
		ours = target{
			Name: "otlp",
			Bin:  o.OtlpServer,
			Configs: map[string]string{
				"nop":           filepath.Join(o.ConfigDir, "otlp-nop.toml"),
				"otlp":          filepath.Join(o.ConfigDir, "otlp-otlp.toml"),
				"processors":    filepath.Join(o.ConfigDir, "otlp-processors.toml"),
				"tail-sampling": filepath.Join(o.ConfigDir, "otlp-tail-sampling.toml"),
			},
			ReadyURL: "http://" + o.OtlpAdmin + "/ready",
			NopDelivered: counter{
				URL:    "http://" + o.OtlpAdmin + "/metrics",
				Metric: "otlp_exported_spans_total",
				Labels: map[string]string{"exporter": "nop"},
			},
		}
	case "otelcol":
		ours = theirs
		ours.Name = "otelcol-as-ours"
	default:
		return theirs, ours, fmt.Errorf("-ours %q: want otlp or otelcol", o.Ours)
	}
	return theirs, ours, nil
}

func runMain(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.Suite == "amplify" {
		return runAmplify(ctx, o, stdout)
	}
	known := knownShapes(o)
	theirs, ours, err := targets(o)
	if o.Suite == "agent" {
		known = agentShapes(o)
		theirs, ours, err = agentTargets(o)
	}
	if err != nil {
		return err
	}
	var shapes []shape
	for _, name := range o.Shapes {
		s, ok := known[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("unknown shape %q", name)
		}
		shapes = append(shapes, s)
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, "logs"), 0o755); err != nil {
		return err
	}

	rn := &runner{
		opts:   o,
		hc:     &http.Client{Timeout: 5 * time.Second},
		sink:   counter{URL: "http://" + o.SinkHTTP + "/count"},
		stdout: stdout,
	}
	sinkLog, err := os.Create(filepath.Join(o.OutDir, "logs", "sink.log"))
	if err != nil {
		return err
	}
	defer sinkLog.Close()
	rn.sinkLog = sinkLog
	if err := rn.startSink(ctx); err != nil {
		return err
	}
	defer rn.stopSink()

	fmt.Fprintf(stdout, "load: telemetrygen traces, 1 worker, unthrottled, %d child spans per trace, %d spans per request\n",
		o.ChildSpans, o.BatchSize)
	var pairs []pair
	var runErr error
	for _, s := range shapes {
		run := rn.run
		if s.Loss {
			run = rn.runLoss
		}
		p := pair{Shape: s.Name}
		rounds := o.Rounds
		if s.Loss {
			rounds = 1 // a correctness scenario of fixed length, not a ratio
		}
		for i := range rounds {
			var r pair
			if i%2 == 0 {
				r.Theirs = run(ctx, theirs, s)
				r.Ours = run(ctx, ours, s)
			} else { // the other order, so that neither always runs after the other
				r.Ours = run(ctx, ours, s)
				r.Theirs = run(ctx, theirs, s)
			}
			if i == 0 {
				p.Theirs, p.Ours = r.Theirs, r.Ours
			} else {
				p.More = append(p.More, r)
			}
			runErr = errors.Join(runErr, r.Theirs.Err, r.Ours.Err)
			if ctx.Err() != nil {
				break
			}
		}
		pairs = append(pairs, p)
		if ctx.Err() != nil {
			break
		}
	}

	if o.Suite == "agent" {
		if err := reportAgent(stdout, o.OutDir, pairs); err != nil {
			return err
		}
		if runErr != nil {
			return errRunsFailed
		}
		return nil
	}
	fmt.Fprintln(stdout)
	if err := writeTable(stdout, pairs); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	writeVerdicts(stdout, pairs)
	if err := saveResults(o.OutDir, pairs); err != nil {
		return err
	}
	writeRatios(stdout, pairs)
	if runErr != nil {
		return errRunsFailed
	}
	return nil
}

// startSink starts the sink (its log appends to rn.sinkLog) and waits until it answers; its
// count starts at zero.
func (rn *runner) startSink(ctx context.Context) error {
	o := rn.opts
	p, err := startProc(o.Sink, []string{"-grpc", o.SinkGRPC, "-http", o.SinkHTTP}, nil, rn.sinkLog)
	if err != nil {
		return err
	}
	rn.sinkProc = p
	if err := rn.waitSink(ctx, p); err != nil {
		return fmt.Errorf("sink not ready: %w", err)
	}
	return nil
}

// stopSink stops the sink if it runs.
func (rn *runner) stopSink() error {
	p := rn.sinkProc
	if p == nil {
		return nil
	}
	rn.sinkProc = nil
	return p.stop(5 * time.Second)
}

// waitSink polls the sink's count endpoint until it answers.
func (rn *runner) waitSink(ctx context.Context, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, rn.opts.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := rn.sink.read(ctx, rn.hc)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-p.exited:
			return fmt.Errorf("exited: %w", p.err)
		case <-tick.C:
		}
	}
}

// saveResults writes results.tsv and ratios.txt into dir.
func saveResults(dir string, pairs []pair) error {
	f, err := os.Create(filepath.Join(dir, "results.tsv"))
	if err != nil {
		return err
	}
	err = writeTSV(f, pairs)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	var b strings.Builder
	writeVerdicts(&b, pairs)
	writeRatios(&b, pairs)
	return os.WriteFile(filepath.Join(dir, "ratios.txt"), []byte(b.String()), 0o644)
}
