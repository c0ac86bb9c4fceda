package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
)

// pair is one shape measured on both collectors.
type pair struct {
	Shape        string
	Theirs, Ours result
}

// Targets of the issue: ours at least twice their spans per CPU-second, at most half their
// peak RSS, nothing lost.
const (
	targetSpeedup = 2.0
	targetRSS     = 0.5
)

func (p pair) cpuRatio() float64 { return ratio(p.Ours.SpansPerCPU(), p.Theirs.SpansPerCPU()) }
func (p pair) rssRatio() float64 {
	return ratio(float64(p.Ours.PeakRSS), float64(p.Theirs.PeakRSS))
}

func (p pair) met() bool {
	return p.Ours.Err == nil && p.Theirs.Err == nil &&
		p.cpuRatio() >= targetSpeedup && p.rssRatio() <= targetRSS && p.Ours.Lost() == 0
}

// ratio is a/b, or 0 when b is not positive (a failed baseline run).
func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

const mib = 1 << 20

// writeTable prints every run, one row each.
func writeTable(w io.Writer, pairs []pair) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shape\tcollector\tsent\tarrived\tlost\tcpu_s\tspans/cpu_s\tready_rss_MiB\tpeak_rss_MiB\tload_s\tspans/s\tgen_cpu_s\tgen_rss_MiB\t")
	for _, p := range pairs {
		for _, r := range []result{p.Theirs, p.Ours} {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.1f\t%.2f\t%.0f\t%.2f\t%.0f\t\n",
				r.Shape, r.Target, r.Sent, r.Arrived, r.Lost(), r.CPU.Seconds(), r.SpansPerCPU(),
				float64(r.ReadyRSS)/mib, float64(r.PeakRSS)/mib, r.Load.Seconds(), ratio(float64(r.Arrived), r.Load.Seconds()),
				r.GenCPU.Seconds(), float64(r.GenRSS)/mib)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range pairs {
		for _, r := range []result{p.Theirs, p.Ours} {
			if r.Err != nil {
				fmt.Fprintf(w, "error %s %s: %v\n", r.Shape, r.Target, r.Err)
			}
		}
	}
	return nil
}

// writeVerdicts prints, per shape, the ratios against the targets.
func writeVerdicts(w io.Writer, pairs []pair) {
	for _, p := range pairs {
		verdict := "NOT met"
		if p.met() {
			verdict = "met"
		}
		fmt.Fprintf(w, "target %s: spans_per_cpu %.2fx (want >= %.1f), peak_rss %.2fx (want <= %.1f), lost %d (want 0): %s\n",
			p.Shape, p.cpuRatio(), targetSpeedup, p.rssRatio(), targetRSS, p.Ours.Lost(), verdict)
	}
}

// writeRatios prints the output contract, one line per shape, ours over theirs.
func writeRatios(w io.Writer, pairs []pair) {
	for _, p := range pairs {
		fmt.Fprintf(w, "ratio %s spans_per_cpu=%.2f peak_rss=%.2f lost=%d\n",
			p.Shape, p.cpuRatio(), p.rssRatio(), p.Ours.Lost())
	}
}

// writeTSV writes every run as tab-separated values with a header, for later processing.
func writeTSV(w io.Writer, pairs []pair) error {
	_, err := fmt.Fprintln(w, "shape\tcollector\tsent\tarrived\tlost\tcpu_seconds\tspans_per_cpu_second\tready_rss_bytes\tpeak_rss_bytes\tload_seconds\tgen_cpu_seconds\tgen_peak_rss_bytes\terror")
	for _, p := range pairs {
		for _, r := range []result{p.Theirs, p.Ours} {
			errText := ""
			if r.Err != nil {
				errText = strconv.Quote(r.Err.Error())
			}
			_, e := fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%.3f\t%.0f\t%d\t%d\t%.3f\t%.3f\t%d\t%s\n",
				r.Shape, r.Target, r.Sent, r.Arrived, r.Lost(), r.CPU.Seconds(), r.SpansPerCPU(),
				r.ReadyRSS, r.PeakRSS, r.Load.Seconds(), r.GenCPU.Seconds(), r.GenRSS, errText)
			if err == nil {
				err = e
			}
		}
	}
	return err
}
