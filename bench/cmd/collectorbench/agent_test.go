package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseIO(t *testing.T) {
	const io = "rchar: 3115136\nwchar: 6198807\nsyscr: 559\nsyscw: 337\nread_bytes: 0\nwrite_bytes: 3264512\ncancelled_write_bytes: 4096\n"
	tests := []struct {
		name    string
		in      string
		want    ioBytes
		wantErr bool
	}{
		{"linux", io, ioBytes{Write: 3264512, Cancelled: 4096}, false},
		{"no cancelled", "write_bytes: 1\n", ioBytes{}, true},
		{"twice the same key", "write_bytes: 1\nwrite_bytes: 2\n", ioBytes{}, true},
		{"bad number", "write_bytes: x\ncancelled_write_bytes: 0\n", ioBytes{}, true},
		{"negative", "write_bytes: -1\ncancelled_write_bytes: 0\n", ioBytes{}, true},
		{"empty", "", ioBytes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIO([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errProcFormat) {
				t.Fatalf("err = %v, want errProcFormat", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte("write_bytes: 3264512\ncancelled_write_bytes: 0\n"))
	f.Add([]byte("write_bytes:1\ncancelled_write_bytes:2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseIO(b)
		if err == nil && (v.Write < 0 || v.Cancelled < 0) {
			t.Fatalf("negative counters %+v", v)
		}
	})
}

// The readers work on this very process.
func TestProcIOSelf(t *testing.T) {
	if _, err := procIO(os.Getpid()); err != nil {
		t.Fatal(err)
	}
}

func TestParseFlagsAgentSuite(t *testing.T) {
	o, err := parseFlags([]string{"-suite", "agent"})
	if err != nil {
		t.Fatal(err)
	}
	if o.ConfigDir != "bench/agent" || o.OutDir != "bench/out/agent" || o.Spans != 300_000 ||
		!strings.Contains(o.Otelcol, "otelcol-agentbench") || strings.Join(o.Shapes, ",") != "agent-durable,agent-interval,agent-durable-memack,agent-loss,agent-loss-unbounded" || o.Rounds != 3 {
		t.Fatalf("agent defaults not applied: %+v", o)
	}
	o, err = parseFlags([]string{"-suite", "agent", "-spans", "1000", "-configs", "x", "-shapes", "agent-loss"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Spans != 1000 || o.ConfigDir != "x" || len(o.Shapes) != 1 {
		t.Fatalf("explicit flags overridden: %+v", o)
	}
	theirs, ours, err := agentTargets(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range agentShapes(o) {
		for _, tg := range []target{theirs, ours} {
			if tg.Configs[s.Pipeline] == "" || tg.Durability[s.Pipeline] == "" {
				t.Errorf("%s: no config or durability for %s", tg.Name, s.Name)
			}
		}
	}
	// The default collector suite is untouched.
	o, _ = parseFlags(nil)
	if o.ConfigDir != "bench/collector" || o.Spans != 3_000_000 {
		t.Fatalf("collector defaults changed: %+v", o)
	}
	for _, args := range [][]string{
		{"-suite", "other"},
		{"-suite", "agent", "-outage", "0s"},
		{"-suite", "agent", "-loss-spans", "1"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q: want an error", args)
		}
	}
	o.Ours = "otelcol"
	if _, _, err := agentTargets(o); err == nil {
		t.Fatal("agent suite with -ours otelcol: want an error")
	}
}

func TestReportAgent(t *testing.T) {
	res := func(shape, target string, arrived int64, cpu time.Duration, rss, disk int64) result {
		return result{Shape: shape, Target: target, Sent: 1000, Arrived: arrived, CPU: cpu, PeakRSS: rss, Disk: ioBytes{Write: disk}}
	}
	pairs := []pair{
		{Shape: "agent-durable", Theirs: res("agent-durable", "otelcol", 1000, time.Second, 40*mib, 400_000), Ours: res("agent-durable", "otlp-agent", 999, 400*time.Millisecond, 20*mib, 100_000)},
		{Shape: "agent-interval", Theirs: res("agent-interval", "otelcol", 1000, time.Second, 40*mib, 0), Ours: res("agent-interval", "otlp-agent", 1000, time.Second, 10*mib, 0)},
		{Shape: "agent-loss", Theirs: res("agent-loss", "otelcol", 200, time.Second, mib, 0), Ours: res("agent-loss", "otlp-agent", 998, time.Second, mib, 0)},
		{Shape: "agent-loss-unbounded", Theirs: res("agent-loss-unbounded", "otelcol", 1000, time.Second, mib, 0), Ours: res("agent-loss-unbounded", "otlp-agent", 1000, time.Second, mib, 0)},
	}
	pairs[2].Theirs.Dropped = 800
	pairs[2].Theirs.Queue = "retry 5m (default)"
	pairs[2].Ours.Down, pairs[2].Theirs.Down = 400*time.Second, 401*time.Second
	// Rounds: the ratios compare medians, the table lists every run, what ours lost adds up.
	pairs[1].More = []pair{
		{Theirs: res("agent-interval", "otelcol", 1000, 2*time.Second, 40*mib, 0), Ours: res("agent-interval", "otlp-agent", 1000, 500*time.Millisecond, 10*mib, 0)},
		{Theirs: res("agent-interval", "otelcol", 1000, time.Second, 40*mib, 0), Ours: res("agent-interval", "otlp-agent", 999, 500*time.Millisecond, 10*mib, 0)},
	}
	dir := t.TempDir()
	var b bytes.Buffer
	if err := reportAgent(&b, dir, pairs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	wantTail := []string{
		"target agent-durable: spans_per_cpu 2.50x (want >= 2.0), peak_rss 0.50x, disk_bytes_per_span 0.25x, lost 1 (want 0), medians of 1 rounds: NOT met",
		// Medians of 1000, 1000, 500 (theirs) and 1000, 2000, 1998 (ours) spans per CPU-second.
		"target agent-interval: spans_per_cpu 2.00x (want >= 2.0), peak_rss 0.25x, disk_bytes_per_span 0.00x, lost 1 (want 0), medians of 3 rounds: NOT met",
		"target agent-loss: lost 2 (want 0) after 400s with the sink down; the Collector (retry 5m (default)) lost 800 and reported 800 dropped: NOT met",
		"target agent-loss-unbounded: lost 0 (want 0) after 0s with the sink down; the Collector () lost 0 and reported 0 dropped: met",
		"ratio agent-interval spans_per_cpu=2.00 peak_rss=0.25 lost=1",
		// agent-durable, its own loss and the loss scenarios' together, then the loss line.
		"ratio agent-durable spans_per_cpu=2.50 peak_rss=0.50 lost=3",
		"loss outage_s=401 collector_default_lost=800 collector_unbounded_lost=0 ours_lost=2",
	}
	if got := lines[len(lines)-len(wantTail):]; strings.Join(got, "\n") != strings.Join(wantTail, "\n") {
		t.Fatalf("tail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantTail, "\n"))
	}
	if !strings.Contains(b.String(), "disk_B/span") {
		t.Fatalf("table without the disk column:\n%s", b.String())
	}
	saved, err := os.ReadFile(filepath.Join(dir, "ratios.txt"))
	if err != nil || !strings.HasSuffix(string(saved), wantTail[len(wantTail)-1]+"\n") {
		t.Fatalf("ratios.txt = %q, %v", saved, err)
	}
	tsv, err := os.ReadFile(filepath.Join(dir, "results.tsv"))
	if err != nil || strings.Count(string(tsv), "\n") != 1+2*(1+3+1+1) {
		t.Fatalf("results.tsv:\n%s (%v)", tsv, err)
	}

	// The loss verdict is about ours alone: met when we lost nothing, whatever the Collector did.
	pairs[2].Ours.Arrived = 1000
	pairs[2].Theirs.Arrived = 1000
	b.Reset()
	writeAgentVerdicts(&b, pairs[2:3])
	if !strings.HasSuffix(b.String(), ": met\n") {
		t.Fatalf("verdict %q", b.String())
	}
}
