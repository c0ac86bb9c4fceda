package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The test binary doubles as a fake collector and a fake telemetrygen, so that the driver's
// process handling runs against real child processes.
const fakeEnv = "COLLECTORBENCH_FAKE"

func TestMain(m *testing.M) {
	switch os.Getenv(fakeEnv) {
	case "collector":
		os.Exit(fakeCollector(os.Args[1:]))
	case "telemetrygen":
		os.Exit(fakeTelemetrygen(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// fakeCollector reads "receiver admin loss exit" from the file after --config. It counts the
// integers sent as lines to receiver, less loss of each, and serves them as
// otlp_exported_spans_total{exporter="nop"} on admin, with /ready. exit=1 makes it fail at once.
func fakeCollector(args []string) int {
	if len(args) != 2 || args[0] != "--config" {
		return 2
	}
	b, err := os.ReadFile(args[1])
	if err != nil {
		return 2
	}
	var receiver, admin string
	var loss, exit int64
	if _, err := fmt.Sscan(string(b), &receiver, &admin, &loss, &exit); err != nil || exit != 0 {
		return 3
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	var spans atomic.Int64
	rl, err := net.Listen("tcp", receiver)
	if err != nil {
		return 4
	}
	go func() {
		for {
			c, err := rl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if n, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
						spans.Add(max(n-loss, 0))
					}
				}
			}()
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "# TYPE otlp_exported_spans_total counter\notlp_exported_spans_total{exporter=\"nop\"} %d\n", spans.Load())
	})
	hs := &http.Server{Addr: admin, Handler: mux}
	go func() { _ = hs.ListenAndServe() }()
	<-ctx.Done()
	rl.Close()
	_ = hs.Close()
	return 0
}

// fakeTelemetrygen sends traces*(1+child-spans) spans to the endpoint in lines of batch-size.
func fakeTelemetrygen(args []string) int {
	fs := flag.NewFlagSet("telemetrygen", flag.ContinueOnError)
	endpoint := fs.String("otlp-endpoint", "", "")
	fs.Bool("otlp-insecure", false, "")
	fs.Int("workers", 1, "")
	fs.Float64("rate", 1, "")
	traces := fs.Int64("traces", 0, "")
	child := fs.Int64("child-spans", 1, "")
	batch := fs.Int64("batch-size", 100, "")
	if len(args) == 0 || args[0] != "traces" || fs.Parse(args[1:]) != nil {
		return 2
	}
	c, err := net.Dial("tcp", *endpoint)
	if err != nil {
		return 3
	}
	defer c.Close()
	w := bufio.NewWriter(c)
	for left := *traces * (1 + *child); left > 0; left -= *batch {
		fmt.Fprintln(w, min(left, *batch))
	}
	if w.Flush() != nil {
		return 4
	}
	return 0
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestRunAgainstFakes(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		loss     int64 // spans the fake loses per request
		exit     int
		wantLost int64
		wantErr  string
	}{
		{"all arrive", 0, 0, 0, ""},
		{"lossy collector stalls", 1, 0, 100, "none more"},
		{"collector fails to start", 0, 1, 1000, "not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			receiver, admin := freeAddr(t), freeAddr(t)
			cfg := filepath.Join(dir, "fake.conf")
			content := fmt.Sprintf("%s %s %d %d\n", receiver, admin, tt.loss, tt.exit)
			if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			collector := filepath.Join(dir, "collector.sh")
			generator := filepath.Join(dir, "telemetrygen.sh")
			for path, role := range map[string]string{collector: "collector", generator: "telemetrygen"} {
				// A race-enabled child would otherwise sleep 1s at exit.
				script := fmt.Sprintf("#!/bin/sh\nGORACE=atexit_sleep_ms=0 %s=%s exec %q \"$@\"\n", fakeEnv, role, self)
				if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var progress bytes.Buffer
			rn := &runner{
				opts: options{
					Telemetrygen: generator, OutDir: dir, Receiver: receiver,
					ChildSpans: 1, BatchSize: 10,
					ReadyTimeout: 5 * time.Second, LoadTimeout: 10 * time.Second,
					StallTimeout: 300 * time.Millisecond,
				},
				hc:     &http.Client{Timeout: 5 * time.Second},
				stdout: &progress,
			}
			tgt := target{
				Name: "fake", Bin: collector,
				Configs:  map[string]string{"nop": cfg},
				ReadyURL: "http://" + admin + "/ready",
				NopDelivered: counter{
					URL: "http://" + admin + "/metrics", Metric: "otlp_exported_spans_total",
					Labels: map[string]string{"exporter": "nop"},
				},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res := rn.run(ctx, tgt, shape{Name: "nop", Pipeline: "nop", Spans: 1000})

			if res.Sent != 1000 || res.Lost() != tt.wantLost {
				t.Fatalf("sent %d lost %d, want 1000 and %d (err %v)", res.Sent, res.Lost(), tt.wantLost, res.Err)
			}
			if tt.wantErr == "" && res.Err != nil {
				t.Fatalf("err %v", res.Err)
			}
			if tt.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want one containing %q", res.Err, tt.wantErr)
			}
			if tt.exit == 0 && (res.PeakRSS <= 0 || res.ReadyRSS <= 0 || res.CPU < 0 || res.Load <= 0) {
				t.Fatalf("measurements missing: %+v", res)
			}
			if !strings.Contains(progress.String(), "run nop fake: 1000 spans") {
				t.Fatalf("progress %q", progress.String())
			}
			for _, name := range []string{"nop-fake.log", "nop-fake.telemetrygen.log"} {
				if _, err := os.Stat(filepath.Join(dir, "logs", name)); err != nil && tt.exit == 0 {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestProcStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		wantErr bool
	}{
		{"exits on SIGTERM", "echo ready; exec sleep 30", false},
		{"ignores SIGTERM", "trap '' TERM; echo ready; exec sleep 30", true},
		{"exited early", "exit 3", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			defer pr.Close()
			p, err := startProc("/bin/sh", []string{"-c", tt.script}, nil, pw)
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "exited early" {
				<-p.exited
			} else if _, err := bufio.NewReader(pr).ReadString('\n'); err != nil {
				// The trap is set once the script speaks.
				t.Fatal(err)
			}
			err = p.stop(300 * time.Millisecond)
			if (err != nil) != tt.wantErr {
				t.Fatalf("stop: %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestReport(t *testing.T) {
	theirs := result{Shape: "nop", Target: "otelcol", Sent: 1000, Arrived: 1000, CPU: 2 * time.Second, PeakRSS: 40 * mib, Load: time.Second}
	ours := result{Shape: "nop", Target: "otlp", Sent: 1000, Arrived: 990, CPU: 900 * time.Millisecond, PeakRSS: 10 * mib, Load: time.Second}
	failed := result{Shape: "otlp", Target: "otlp", Sent: 1000, Err: errors.New("boom")}
	pairs := []pair{
		{Shape: "nop", Theirs: theirs, Ours: ours},
		{Shape: "otlp", Theirs: result{Shape: "otlp", Target: "otelcol", Sent: 1000, Arrived: 1000, CPU: time.Second, PeakRSS: mib}, Ours: failed},
	}
	var b bytes.Buffer
	writeRatios(&b, pairs)
	want := "ratio nop spans_per_cpu=2.20 peak_rss=0.25 lost=10\nratio otlp spans_per_cpu=0.00 peak_rss=0.00 lost=1000\n"
	if b.String() != want {
		t.Fatalf("ratios:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	writeVerdicts(&b, pairs)
	if got := b.String(); !strings.Contains(got, "lost 10 (want 0): NOT met") || strings.Count(got, "NOT met") != 2 {
		t.Fatalf("verdicts:\n%s", got)
	}
	b.Reset()
	if err := writeTable(&b, pairs); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); !strings.Contains(got, "error otlp otlp: boom") || strings.Count(got, "\n") != 6 {
		t.Fatalf("table:\n%s", got)
	}
	b.Reset()
	if err := writeTSV(&b, pairs); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 5 || !strings.HasSuffix(lines[4], `"boom"`) {
		t.Fatalf("tsv:\n%s", b.String())
	}

	met := pair{Shape: "nop", Theirs: theirs, Ours: ours}
	met.Ours.Arrived = 1000
	if !met.met() {
		t.Fatalf("%+v: want target met", met)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr bool
	}{
		{nil, false},
		{[]string{"-spans", "15", "-child-spans", "4", "-shapes", "nop"}, false},
		{[]string{"-spans", "10", "-child-spans", "4"}, true},
		{[]string{"-spans", "1"}, true},
		{[]string{"-spans", "6", "-child-spans", "1"}, false},
		{[]string{"-spans", "5", "-child-spans", "1"}, true}, // a third is one span, less than a trace
		{[]string{"-batch-size", "0"}, true},
		{[]string{"-rounds", "0"}, true},
		{[]string{"extra"}, true},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
	o, _ := parseFlags(nil)
	if _, _, err := targets(o); err != nil {
		t.Fatal(err)
	}
	o.Ours = "other"
	if _, _, err := targets(o); err == nil {
		t.Fatal("unknown -ours: want an error")
	}
}

// With several rounds the ratios compare each side's median, so one slow run on either side
// does not decide; what ours lost is summed over the rounds; the table lists every run.
func TestReportRounds(t *testing.T) {
	run := func(target string, arrived int64, cpu time.Duration, rss int64) result {
		return result{Shape: "nop", Target: target, Sent: 1000, Arrived: arrived, CPU: cpu, PeakRSS: rss * mib, Load: time.Second}
	}
	p := pair{Shape: "nop",
		Theirs: run("otelcol", 1000, time.Second, 40), Ours: run("otlp", 1000, 400*time.Millisecond, 19),
		More: []pair{
			{Theirs: run("otelcol", 1000, 2*time.Second, 44), Ours: run("otlp", 1000, 1000*time.Millisecond, 22)}, // a slow round for ours
			{Theirs: run("otelcol", 1000, time.Second, 42), Ours: run("otlp", 1000, 450*time.Millisecond, 20)},
		}}
	// spans per CPU-second: theirs 1000, 500, 1000 (median 1000); ours 2500, 1000, 2222 (2222).
	if got := p.cpuRatio(); got < 2.22 || got > 2.23 {
		t.Fatalf("cpu ratio %.3f, want 2222/1000", got)
	}
	if got := p.rssRatio(); got != 20.0/42 {
		t.Fatalf("rss ratio %.3f, want 20/42 (medians)", got)
	}
	if !p.met() || p.lost() != 0 {
		t.Fatalf("want met with nothing lost: %+v", p)
	}
	p.More[1].Ours.Arrived = 990
	if p.lost() != 10 || p.met() {
		t.Fatalf("a loss in any round counts: lost %d met %v", p.lost(), p.met())
	}
	var b bytes.Buffer
	if err := writeTable(&b, []pair{p}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(b.String(), "\n"); got != 7 {
		t.Fatalf("table has %d lines, want a header and six runs:\n%s", got, b.String())
	}
	b.Reset()
	writeRatios(&b, []pair{p})
	// 990 spans in 0.45 s in the third round now: ours' median is 2200.
	if want := "ratio nop spans_per_cpu=2.20 peak_rss=0.48 lost=10\n"; b.String() != want {
		t.Fatalf("ratios %q, want %q", b.String(), want)
	}
}
