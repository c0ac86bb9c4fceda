// Command sdk compares the otlp SDK with the official OpenTelemetry Go SDK (BatchSpanProcessor
// + otlptracegrpc, defaults) against the same local OTLP/gRPC sink (a child process, as a local
// collector is): the cost of one span (start, 4 attributes, end; interleaved rounds, medians),
// the CPU time per span at a paced rate that neither SDK drops at, and what each loses when
// spans are made at full speed.
//
// With -only ours|official it runs only that SDK's per-span rounds, for -cpuprofile,
// -memprofile and -trace.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the sink accepts gzip
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/otlp"
)

// sink counts the spans it receives without decoding them into objects, and reuses its
// receive buffers. It runs in a child process (this program with -sink), as a local collector
// does: its allocations and garbage collections stay out of the application's heap (in one
// process the SDK that delivers more spans would pay for the sink's garbage too), and its CPU
// time is added to the application's wherever CPU time is reported.
type sink struct {
	spans  atomic.Int64
	frames sync.Pool // *grpcraw.Frame
}

func (s *sink) handle(_ any, stream grpc.ServerStream) error {
	f, _ := s.frames.Get().(*grpcraw.Frame)
	if f == nil {
		f = new(grpcraw.Frame)
	}
	defer s.frames.Put(f)
	if err := stream.RecvMsg(f); err != nil {
		return err
	}
	if m, _ := grpc.MethodFromServerStream(stream); m == grpcraw.TracesMethod {
		s.spans.Add(int64(countSpans(f.Body)))
	}
	return stream.SendMsg(&grpcraw.Frame{})
}

// countSpans counts ExportTraceServiceRequest.resource_spans[].scope_spans[].spans[].
func countSpans(b []byte) int {
	n := 0
	each(b, 1, func(rs []byte) { each(rs, 2, func(ss []byte) { each(ss, 2, func([]byte) { n++ }) }) })
	return n
}

// each calls f with every length-delimited field number field of message b.
func each(b []byte, field protowire.Number, f func([]byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ == protowire.BytesType && num == field {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			f(v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
}

// runSink is the child process: it prints its address, then answers each line read from
// stdin with "<spans received> <CPU ns used>", and exits when stdin closes.
func runSink() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s := &sink{}
	gs := grpc.NewServer(grpc.ForceServerCodecV2(grpcraw.Codec{}), grpc.UnknownServiceHandler(s.handle))
	served := make(chan error, 1)
	go func() { served <- gs.Serve(ln) }()
	defer func() { gs.Stop(); <-served }()
	if _, err := fmt.Println(ln.Addr().String()); err != nil {
		return err
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if _, err := fmt.Println(s.spans.Load(), cpuTime().Nanoseconds()); err != nil {
			return err
		}
	}
	return in.Err()
}

// sinkProc is the parent's handle on the sink's child process.
type sinkProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
}

func startSink() *sinkProc {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe, "-sink")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		panic(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	s := &sinkProc{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	line, err := s.out.ReadString('\n')
	if err != nil {
		panic(fmt.Sprintf("sink did not start: %v", err))
	}
	s.addr = strings.TrimSpace(line)
	return s
}

// stats returns the spans the sink received so far and the CPU time it used.
func (s *sinkProc) stats() (spans int64, cpu time.Duration) {
	if _, err := io.WriteString(s.in, "?\n"); err != nil {
		panic(err)
	}
	line, err := s.out.ReadString('\n')
	if err != nil {
		panic(err)
	}
	var ns int64
	if _, err := fmt.Sscan(line, &spans, &ns); err != nil {
		panic(fmt.Sprintf("sink answered %q: %v", line, err))
	}
	return spans, time.Duration(ns)
}

func (s *sinkProc) spans() int64 { n, _ := s.stats(); return n }

func (s *sinkProc) stop() {
	_ = s.in.Close()
	_ = s.cmd.Wait()
}

type tracerSetup struct {
	tracer   trace.Tracer
	shutdown func(context.Context) error
	stats    func() (exported, dropped int64) // ours only
}

func official(ctx context.Context, addr string) tracerSetup {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
	return tracerSetup{tracer: tp.Tracer("bench"), shutdown: tp.Shutdown}
}

// officialLike is the official SDK set up as ours is: a producer that waits for room instead of
// dropping (WithBlocking), the same queue (8192 spans), request size (2048 spans; ours also caps
// a request at 1 MiB, which these spans never reach) and batch timeout (1s), no compression.
func officialLike(ctx context.Context, addr string) tracerSetup {
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	if err != nil {
		panic(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBlocking(),
		sdktrace.WithMaxQueueSize(8192), sdktrace.WithMaxExportBatchSize(2048), sdktrace.WithBatchTimeout(time.Second)))
	return tracerSetup{tracer: tp.Tracer("bench"), shutdown: tp.Shutdown}
}

func ours(ctx context.Context, addr string) tracerSetup {
	c, err := otlp.New(ctx, otlp.WithEnv(nil), otlp.WithEndpoint(addr), otlp.WithInsecure(),
		otlp.WithCompression("none"), otlp.WithMetricInterval(time.Hour),
		otlp.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		panic(err)
	}
	return tracerSetup{tracer: c.Tracer("bench"), shutdown: c.Shutdown, stats: func() (int64, int64) {
		st := c.Stats()
		return st.Traces.Exported, st.Traces.DroppedTotal()
	}}
}

var attrs = []attribute.KeyValue{
	attribute.String("http.request.method", "GET"), attribute.String("url.path", "/api/v1/items"),
	attribute.Int("http.response.status_code", 200), attribute.Bool("cache.hit", true),
}

func span(ctx context.Context, tr trace.Tracer) {
	_, sp := tr.Start(ctx, "GET /api/v1/items")
	sp.SetAttributes(attrs...)
	sp.End()
}

func perSpan(mk func(context.Context, string) tracerSetup) testing.BenchmarkResult {
	ctx := context.Background()
	snk := startSink()
	defer snk.stop()
	s := mk(ctx, snk.addr)
	defer s.shutdown(ctx)
	return testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		recv0, sinkCPU0 := snk.stats()
		gc0, cpu0 := ms.NumGC, cpuTime()
		for b.Loop() {
			span(ctx, s.tracer)
		}
		cpu := cpuTime() - cpu0
		runtime.ReadMemStats(&ms)
		recv, sinkCPU := snk.stats()
		recv -= recv0
		cpu += sinkCPU - sinkCPU0
		b.ReportMetric(float64(ms.NumGC-gc0)*1000/float64(b.N), "gc/kspan")
		b.ReportMetric(float64(recv)/float64(b.N), "exported/span")
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		if recv > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(recv), "cpu-ns/exported")
		}
	})
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burst makes n spans as fast as one goroutine can and reports what reached the sink, how long
// making them took (d) and how long until the SDK's shutdown had delivered what it would (all).
func burst(mk func(context.Context, string) tracerSetup, n int) (received, exported, dropped int64, d, all time.Duration) {
	ctx := context.Background()
	snk := startSink()
	defer snk.stop()
	s := mk(ctx, snk.addr)
	start := time.Now()
	for range n {
		span(ctx, s.tracer)
	}
	d = time.Since(start)
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_ = s.shutdown(sctx)
	all = time.Since(start)
	if s.stats != nil {
		exported, dropped = s.stats()
	}
	return snk.spans(), exported, dropped, d, all
}

// paced makes rate spans a second for d, in steps of a millisecond, and reports the process's
// CPU time per span (the sink's included, the same for both SDKs at the same rate) and the
// spans that did not reach the sink.
func paced(mk func(context.Context, string) tracerSetup, rate int, d time.Duration) (made, lost int64, cpuPerSpan time.Duration) {
	ctx := context.Background()
	snk := startSink()
	defer snk.stop()
	s := mk(ctx, snk.addr)
	runtime.GC()
	_, sinkCPU0 := snk.stats()
	cpu0 := cpuTime()
	start := time.Now()
	for step := time.Duration(0); step < d; step += time.Millisecond {
		for made < int64(float64(rate)*(step+time.Millisecond).Seconds()) {
			span(ctx, s.tracer)
			made++
		}
		time.Sleep(time.Until(start.Add(step + time.Millisecond)))
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_ = s.shutdown(sctx)
	cpu := cpuTime() - cpu0
	recv, sinkCPU := snk.stats()
	cpu += sinkCPU - sinkCPU0
	return made, made - recv, cpu / time.Duration(max(made, 1))
}

// profileOnly runs the per-span measurement of one SDK under the profilers asked for.
func profileOnly(which string, rounds int, cpuFile, memFile, traceFile string) error {
	mk := ours
	if which == "official" {
		mk = official
	}
	if cpuFile != "" {
		f, err := os.Create(cpuFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if traceFile != "" {
		f, err := os.Create(traceFile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rtrace.Start(f); err != nil {
			return err
		}
		defer rtrace.Stop()
	}
	for range rounds {
		r := perSpan(mk)
		fmt.Printf("per-span %s: %s %s\n", which, r, r.MemString())
	}
	if memFile == "" {
		return nil
	}
	f, err := os.Create(memFile)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

func main() {
	n := flag.Int("spans", 200_000, "spans in the full-speed burst")
	rounds := flag.Int("rounds", 11, "per-span measurements of each SDK, interleaved (the median is kept)")
	rate := flag.Int("rate", 100_000, "spans per second of the paced run")
	pacedFor := flag.Duration("paced", 2*time.Second, "length of the paced run of each SDK (0: none)")
	only := flag.String("only", "", "ours or official: only that SDK's per-span rounds, under the profilers below")
	cpuFile := flag.String("cpuprofile", "", "with -only: write a CPU profile")
	memFile := flag.String("memprofile", "", "with -only: write an allocation profile")
	traceFile := flag.String("trace", "", "with -only: write an execution trace")
	sinkChild := flag.Bool("sink", false, "run as the sink's child process (internal)")
	flag.Parse()
	if *sinkChild {
		if err := runSink(); err != nil {
			fmt.Fprintln(os.Stderr, "sink:", err)
			os.Exit(1)
		}
		return
	}
	if *only != "" {
		if err := profileOnly(*only, *rounds, *cpuFile, *memFile, *traceFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	type series struct{ ns, allocs, cpu []float64 }
	sdks := []struct {
		name string
		mk   func(context.Context, string) tracerSetup
		s    series
	}{{name: "official", mk: official}, {name: "official-like", mk: officialLike}, {name: "ours", mk: ours}}
	for r := range *rounds {
		for i := range sdks {
			// Rotate which SDK goes first, so that none always runs after another.
			sdk := &sdks[(i+r)%len(sdks)]
			res := perSpan(sdk.mk)
			fmt.Printf("per-span %-13s %s %s\n", sdk.name+":", res, res.MemString())
			sdk.s.ns = append(sdk.s.ns, float64(res.NsPerOp()))
			sdk.s.allocs = append(sdk.s.allocs, float64(res.AllocsPerOp()))
			sdk.s.cpu = append(sdk.s.cpu, res.Extra["cpu-ns/op"])
		}
	}
	theirs, like, our := sdks[0].s, sdks[1].s, sdks[2].s
	fmt.Printf("per-span medians: official %.0f ns %.0f cpu-ns, official-like %.0f ns %.0f cpu-ns, ours %.0f ns %.0f cpu-ns (cpu: the process's CPU time per span made, export included)\n",
		median(theirs.ns), median(theirs.cpu), median(like.ns), median(like.cpu), median(our.ns), median(our.cpu))
	// How much the machine drifts: the ratio of each round's pair (the ratio lines below keep
	// the ratio of the medians).
	for _, ref := range []struct {
		name string
		s    series
	}{{"official", theirs}, {"official-like", like}} {
		var pairs []float64
		fmt.Printf("per-round ns ratios (ours/%s):", ref.name)
		for i := range our.ns {
			pairs = append(pairs, our.ns[i]/ref.s.ns[i])
			fmt.Printf(" %.2f", pairs[i])
		}
		fmt.Printf(" (median %.2f)\n", median(pairs))
	}

	if *pacedFor > 0 {
		for _, sdk := range []struct {
			name string
			mk   func(context.Context, string) tracerSetup
		}{{"official     ", official}, {"official-like", officialLike}, {"ours         ", ours}} {
			made, lost, cpu := paced(sdk.mk, *rate, *pacedFor)
			fmt.Printf("paced %s: %d spans/s for %s, %d spans, %d lost, %d cpu-ns/span\n", sdk.name, *rate, *pacedFor, made, lost, cpu.Nanoseconds())
		}
	}

	recvT, _, _, dT, allT := burst(official, *n)
	droppedOfficial := int64(*n) - recvT
	fmt.Printf("burst official:      %d spans in %s, %d received, %d dropped (%.0f%%; the official SDK counts its drops but reports the total only in a debug-level line of its global logger, total_dropped); %.0f spans/s delivered\n",
		*n, dT.Round(time.Millisecond), recvT, droppedOfficial, 100*float64(droppedOfficial)/float64(*n), float64(recvT)/allT.Seconds())
	recvL, _, _, dL, allL := burst(officialLike, *n)
	droppedLike := int64(*n) - recvL
	fmt.Printf("burst official-like: %d spans in %s, %d received, %d dropped; %.0f spans/s delivered\n",
		*n, dL.Round(time.Millisecond), recvL, droppedLike, float64(recvL)/allL.Seconds())
	recvO, expO, dropO, dO, allO := burst(ours, *n)
	unreported := int64(*n) - expO - dropO
	fmt.Printf("burst ours:          %d spans in %s, %d received, %d exported, %d dropped (counted), %d unreported; %.0f spans/s delivered\n",
		*n, dO.Round(time.Millisecond), recvO, expO, dropO, unreported, float64(recvO)/allO.Seconds())
	if recvO != expO {
		fmt.Fprintf(os.Stderr, "warning: the sink received %d spans, the client counted %d exported\n", recvO, expO)
	}
	fmt.Printf("ratio sdk ns_per_span=%.2f allocs_per_span=%.2f dropped_official=%d dropped_ours=%d unreported_ours=%d\n",
		median(our.ns)/median(theirs.ns), median(our.allocs)/median(theirs.allocs), droppedOfficial, dropO, unreported)
	fmt.Printf("ratio sdk-like-for-like ns_per_span=%.2f allocs_per_span=%.2f dropped_official=%d dropped_ours=%d\n",
		median(our.ns)/median(like.ns), median(our.allocs)/median(like.allocs), droppedLike, dropO)
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
