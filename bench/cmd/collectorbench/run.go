package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// target is one collector under test.
type target struct {
	Name     string            // column label: "otelcol" or "otlp"
	Bin      string            // executable, run as Bin --config FILE
	Bins     map[string]string // executable by pipeline, where it is not Bin
	Configs  map[string]string // config file by pipeline ("nop", "otlp")
	ReadyURL string            // answers 200 once the collector has started
	// NopDelivered counts spans through the nop pipeline.
	NopDelivered counter
	// LiveURL answers 200 once the process serves, even while its upstream is down (the loss
	// scenario starts collectors with the sink down). Empty: ReadyURL.
	LiveURL string
	// Dropped counts spans the collector itself reports as given up (the loss scenario).
	Dropped counter
	// Durability describes the queue setting per pipeline, for the agent suite's table.
	Durability map[string]string
}

// shape is one pipeline and load.
type shape struct {
	Name     string   // "nop", "otlp", "otlp-attrs10"
	Pipeline string   // config key: "nop" counts at the collector, "otlp" at the sink
	GenArgs  []string // extra telemetrygen flags
	Spans    int64    // spans per run
	// Loss runs the agent suite's loss scenario (runLoss) instead of the throughput run.
	Loss bool
	// Disk gives the collector a fresh queue directory (BENCH_QUEUE_DIR) and measures the bytes
	// it writes to storage.
	Disk bool
	// Sampled shapes keep only some spans: a run ends when nothing more arrives for Settle
	// after the load, what arrived is what was kept, and spans per CPU-second count the
	// spans sent (the work is on every span received).
	Sampled bool
	Settle  time.Duration
}

// result is what one run of one target on one shape measured.
type result struct {
	Shape, Target string
	Queue         string // the target's durability setting for the shape (agent suite)
	Sent, Arrived int64
	Sampled       bool          // a sampled shape: Arrived is what was kept
	CPU           time.Duration // collector utime+stime from ready to the last span
	ReadyRSS      int64         // collector VmRSS once ready, bytes
	PeakRSS       int64         // collector VmHWM, bytes
	Load          time.Duration // telemetrygen wall time
	GenCPU        time.Duration // telemetrygen utime+stime
	GenRSS        int64         // telemetrygen peak RSS, bytes (it queues the whole run)
	Disk          ioBytes       // collector storage writes over the same window as CPU (Disk shapes)
	Dropped       int64         // spans the collector reported dropped (loss scenario)
	Settle        time.Duration // loss scenario: from the sink's start until all spans were accounted
	Down          time.Duration // loss scenario: how long the sink was down (load and outage)
	Err           error
}

// Lost is how many sent spans never arrived (0 for a sampled shape, which keeps a share).
func (r result) Lost() int64 {
	if r.Sampled {
		return 0
	}
	return r.Sent - r.Arrived
}

// SpansPerCPU is arrived spans per collector CPU-second.
func (r result) SpansPerCPU() float64 {
	if r.CPU <= 0 {
		return 0
	}
	if r.Sampled {
		return float64(r.Sent) / r.CPU.Seconds()
	}
	return float64(r.Arrived) / r.CPU.Seconds()
}

// runner holds what every run shares.
type runner struct {
	opts   options
	hc     *http.Client
	sink   counter
	stdout io.Writer // progress lines

	sinkLog  io.Writer // the sink's output, across restarts
	sinkProc *proc     // the running sink; nil while it is down
}

// run measures one target on one shape. The collector is started here and always stopped
// before run returns; errors are kept in the result so the other runs still happen.
func (rn *runner) run(ctx context.Context, t target, s shape) (res result) {
	res = result{Shape: s.Name, Target: t.Name, Queue: t.Durability[s.Pipeline], Sampled: s.Sampled}
	traces := s.Spans / int64(1+rn.opts.ChildSpans)
	res.Sent = traces * int64(1+rn.opts.ChildSpans)
	fmt.Fprintf(rn.stdout, "run %s %s: %d spans\n", s.Name, t.Name, res.Sent)

	cfg, ok := t.Configs[s.Pipeline]
	if !ok {
		res.Err = fmt.Errorf("%s has no %q config", t.Name, s.Pipeline)
		return res
	}
	delivered := rn.sink
	if s.Pipeline == "nop" {
		delivered = t.NopDelivered
	}
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
	bin := t.Bin
	if b, ok := t.Bins[s.Pipeline]; ok {
		bin = b
	}
	p, err := startProc(bin, []string{"--config", cfg}, env, logf)
	if err != nil {
		res.Err = err
		return res
	}
	defer func() {
		if err := p.stop(10 * time.Second); err != nil && res.Err == nil {
			res.Err = fmt.Errorf("%s did not stop cleanly: %w", t.Name, err)
		}
	}()

	if err := rn.waitReady(ctx, p, t.ReadyURL); err != nil {
		res.Err = fmt.Errorf("%s not ready: %w", t.Name, err)
		return res
	}
	base, err := delivered.read(ctx, rn.hc)
	if err != nil {
		res.Err = err
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
	var io0 ioBytes
	if s.Disk {
		if io0, err = procIO(p.pid()); err != nil {
			res.Err = err
			return res
		}
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
		// Still measure what arrived.
	}
	var arrived int64
	var werr error
	if s.Sampled {
		arrived, werr = rn.waitQuiet(ctx, p, delivered, base, s.Settle)
	} else {
		arrived, werr = rn.waitDelivered(ctx, p, delivered, base, res.Sent)
	}
	res.Arrived = arrived
	if werr != nil && res.Err == nil {
		res.Err = werr
	}
	cpu1, err := procCPU(p.pid())
	if err != nil {
		res.Err = errors.Join(res.Err, fmt.Errorf("%s gone before measuring: %w", t.Name, err))
		return res
	}
	res.CPU = cpu1 - cpu0
	if s.Disk {
		io1, err := procIO(p.pid())
		res.Err = errors.Join(res.Err, err)
		res.Disk = ioBytes{Write: io1.Write - io0.Write, Cancelled: io1.Cancelled - io0.Cancelled}
	}
	res.PeakRSS, err = procPeakRSS(p.pid())
	res.Err = errors.Join(res.Err, err)
	return res
}

// queueDir prepares a fresh, empty queue directory for a Disk shape and returns the
// environment that names it (BENCH_QUEUE_DIR, absolute) and a cleanup that removes it; call
// cleanup after the collector stopped. Other shapes get neither.
func (rn *runner) queueDir(s shape, t target) (env []string, cleanup func(), err error) {
	if !s.Disk {
		return nil, func() {}, nil
	}
	dir, err := filepath.Abs(filepath.Join(rn.opts.OutDir, "queues", s.Name+"-"+t.Name))
	if err != nil {
		return nil, nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	return []string{"BENCH_QUEUE_DIR=" + dir}, func() { _ = os.RemoveAll(dir) }, nil
}

// waitReady polls until the receiver accepts TCP connections and readyURL answers 200.
func (rn *runner) waitReady(ctx context.Context, p *proc, readyURL string) error {
	ctx, cancel := context.WithTimeout(ctx, rn.opts.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-p.exited:
			return fmt.Errorf("exited: %w", p.err)
		case <-tick.C:
		}
		last = rn.probe(ctx, readyURL)
		if last == nil {
			return nil
		}
	}
}

func (rn *runner) probe(ctx context.Context, readyURL string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", rn.opts.Receiver)
	if err != nil {
		return err
	}
	c.Close()
	_, err = get(ctx, rn.hc, readyURL)
	return err
}

// generate runs telemetrygen to completion and returns its wall and CPU time and peak RSS.
func (rn *runner) generate(ctx context.Context, traces int64, s shape, logf *os.File) (wall, cpu time.Duration, rss int64, err error) {
	ctx, cancel := context.WithTimeout(ctx, rn.opts.LoadTimeout)
	defer cancel()
	args := []string{"traces",
		"--otlp-endpoint", rn.opts.Receiver, "--otlp-insecure",
		"--workers", "1", "--rate", "0",
		"--traces", strconv.FormatInt(traces, 10),
		"--child-spans", strconv.Itoa(rn.opts.ChildSpans),
		"--batch-size", strconv.Itoa(rn.opts.BatchSize),
	}
	args = append(args, s.GenArgs...)
	cmd := exec.CommandContext(ctx, rn.opts.Telemetrygen, args...)
	// The SDK's batch span processor drops spans when its queue is full; a queue that holds
	// the whole run makes "sent" exact, so every lost span is the collector's.
	cmd.Env = append(os.Environ(), "OTEL_BSP_MAX_QUEUE_SIZE="+strconv.FormatInt(traces*int64(1+rn.opts.ChildSpans), 10))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss << 10 // kB on Linux
		}
	}
	return wall, cpu, rss, err
}

// waitDelivered polls until want spans past base arrived, the count stalls for StallTimeout,
// or the collector exits. It returns the spans that arrived.
func (rn *runner) waitDelivered(ctx context.Context, p *proc, c counter, base, want int64) (int64, error) {
	return rn.poll(ctx, p, c, base, func(got int64, idle time.Duration) (bool, error) {
		switch {
		case got >= want:
			return true, nil
		case idle > rn.opts.StallTimeout:
			return true, fmt.Errorf("%d of %d spans arrived; none more for %v", got, want, rn.opts.StallTimeout)
		}
		return false, nil
	})
}

// waitQuiet polls until no span arrived for settle (a sampled shape: how many arrive is not
// known in advance), or the collector exits. It returns the spans that arrived.
func (rn *runner) waitQuiet(ctx context.Context, p *proc, c counter, base int64, settle time.Duration) (int64, error) {
	return rn.poll(ctx, p, c, base, func(_ int64, idle time.Duration) (bool, error) { return idle > settle, nil })
}

// poll reads c every 100ms until done says to stop (given the spans past base and how long
// the count has not moved), ctx ends or the collector exits.
func (rn *runner) poll(ctx context.Context, p *proc, c counter, base int64, done func(got int64, idle time.Duration) (bool, error)) (int64, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var got int64
	lastMove := time.Now()
	for {
		n, err := c.read(ctx, rn.hc)
		if err != nil {
			return got, err
		}
		if n-base != got {
			got, lastMove = n-base, time.Now()
		}
		if stop, err := done(got, time.Since(lastMove)); stop {
			return got, err
		}
		select {
		case <-ctx.Done():
			return got, ctx.Err()
		case <-p.exited:
			return got, fmt.Errorf("collector exited: %w", p.err)
		case <-tick.C:
		}
	}
}
