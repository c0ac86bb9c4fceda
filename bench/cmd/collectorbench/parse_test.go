package main

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "1234 (otelcol) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 12 0 100 0 0", 3250 * time.Millisecond, false},
		{"name with spaces and parens", "7 (a b) (c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0", 30 * time.Millisecond, false},
		{"zero", "1 (x) S 0 0 0 0 0 0 0 0 0 0 0 0", 0, false},
		{"no name", "1 x S 0 0 0", 0, true},
		{"too short", "1 (x) S 0 0 0 0 0 0 0 0 0 0 5", 0, true},
		{"not a number", "1 (x) S 0 0 0 0 0 0 0 0 0 0 u 2", 0, true},
		{"negative", "1 (x) S 0 0 0 0 0 0 0 0 0 0 -1 2", 0, true},
		{"overflow", "1 (x) S 0 0 0 0 0 0 0 0 0 0 9223372036854775807 2", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errProcFormat) {
				t.Fatalf("err = %v, want errProcFormat", err)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\totelcol\nVmPeak:\t  900000 kB\nVmHWM:\t   45120 kB\nVmRSS:\t   40000 kB\n"
	tests := []struct {
		name, in, key string
		want          int64
		wantErr       bool
	}{
		{"hwm", status, "VmHWM", 45120 << 10, false},
		{"rss", status, "VmRSS", 40000 << 10, false},
		{"prefix is not a match", status, "VmH", 0, true},
		{"missing", "Name:\tx\n", "VmHWM", 0, true},
		{"no unit", "VmHWM:\t45\n", "VmHWM", 0, true},
		{"bad number", "VmHWM:\tx kB\n", "VmHWM", 0, true},
		{"negative", "VmHWM:\t-4 kB\n", "VmHWM", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatusKB([]byte(tt.in), tt.key)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// The readers work on this very process.
func TestProcSelf(t *testing.T) {
	cpu, err := procCPU(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("procCPU = %v, %v", cpu, err)
	}
	rss, err := procPeakRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("procPeakRSS = %d, %v", rss, err)
	}
}

const exposition = `# HELP otelcol_receiver_accepted_spans Number of spans.
# TYPE otelcol_receiver_accepted_spans counter
otelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 2.480528e+06
otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 20
otelcol_receiver_accepted_spans{receiver="other",transport="grpc"} 5
otelcol_receiver_accepted_spans_total{receiver="otlp"} 7
otlp_exported_spans_total{exporter="nop"} 1000 1700000000000
otlp_exported_spans_total{exporter="otlp"} 10
odd_labels{a="x,y=\"z\"}",b="\\"} 3
no_labels 4
nan_value NaN
`

func TestSumSeries(t *testing.T) {
	tests := []struct {
		name      string
		metric    string
		labels    map[string]string
		want      float64
		wantFound bool
	}{
		{"sums matching series", "otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlp"}, 2480548, true},
		{"all labels must match", "otelcol_receiver_accepted_spans", map[string]string{"receiver": "otlp", "transport": "grpc"}, 2480528, true},
		{"no labels wanted", "otelcol_receiver_accepted_spans", nil, 2480553, true},
		{"timestamp ignored", "otlp_exported_spans_total", map[string]string{"exporter": "nop"}, 1000, true},
		{"escaped label values", "odd_labels", map[string]string{"a": `x,y="z"}`, "b": `\`}, 3, true},
		{"without labels", "no_labels", nil, 4, true},
		{"NaN counts as zero", "nan_value", nil, 0, true},
		{"absent label value", "otlp_exported_spans_total", map[string]string{"exporter": "file"}, 0, false},
		{"absent metric", "otelcol_exporter_sent_spans", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found, err := sumSeries([]byte(exposition), tt.metric, tt.labels)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || found != tt.wantFound {
				t.Fatalf("got %v, %v; want %v, %v", got, found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestSumSeriesErrors(t *testing.T) {
	for _, in := range []string{
		"m{a=\"x\" 1",
		"m{a=x} 1",
		"m{a=\"x} 1",
		"m{a=\"x\\",
		"m 1 2 3",
		"m",
		"m abc",
		"{a=\"b\"} 1",
	} {
		if _, _, err := sumSeries([]byte(in+"\n"), "m", nil); err == nil {
			t.Errorf("%q: want an error", in)
		}
	}
}

func FuzzSumSeries(f *testing.F) {
	f.Add([]byte(exposition), "otlp_exported_spans_total", "exporter", "nop")
	f.Add([]byte("m{a=\"\\\"\"} 1\n"), "m", "a", `"`)
	f.Fuzz(func(t *testing.T, text []byte, metric, k, v string) {
		sum, found, err := sumSeries(text, metric, map[string]string{k: v})
		if err != nil && (sum != 0 || found) {
			t.Fatalf("error %v with sum %v found %v", err, sum, found)
		}
	})
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1234 (otelcol) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0"))
	f.Add([]byte("7 (a b) (c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStatCPU(b)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

func FuzzParseStatusKB(f *testing.F) {
	f.Add([]byte("VmHWM:\t   45120 kB\n"))
	f.Add([]byte("Name:\tx\nVmHWM: 1 kB"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseStatusKB(b, "VmHWM")
		if err == nil && n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}
