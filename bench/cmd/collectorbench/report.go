package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
)

// pair is one shape measured on both collectors: Theirs and Ours are the first round, More
// the other rounds (collector suite, -rounds).
type pair struct {
	Shape        string
	Theirs, Ours result
	More         []pair
}

// Targets of the issue: ours at least twice their spans per CPU-second, at most half their
// peak RSS, nothing lost.
const (
	targetSpeedup = 2.0
	targetRSS     = 0.5
)

// results is every run of the shape, theirs then ours, round by round.
func (p pair) results() []result {
	var out []result
	for _, r := range p.rounds() {
		out = append(out, r.Theirs, r.Ours)
	}
	return out
}

// failed is true when a run of either side failed.
func (p pair) failed() bool {
	for _, r := range p.results() {
		if r.Err != nil {
			return true
		}
	}
	return false
}

// rounds is every round of the shape, the first one first.
func (p pair) rounds() []pair {
	return append([]pair{{Shape: p.Shape, Theirs: p.Theirs, Ours: p.Ours}}, p.More...)
}

// medians returns the medians over the rounds of f applied to theirs and to ours.
func (p pair) medians(f func(result) float64) (theirs, ours float64) {
	var t, o []float64
	for _, r := range p.rounds() {
		t, o = append(t, f(r.Theirs)), append(o, f(r.Ours))
	}
	return median(t), median(o)
}

// cpuRatio and rssRatio compare the medians over the rounds (one round: that round).
func (p pair) cpuRatio() float64 {
	t, o := p.medians(result.SpansPerCPU)
	return ratio(o, t)
}

func (p pair) rssRatio() float64 {
	t, o := p.medians(func(r result) float64 { return float64(r.PeakRSS) })
	return ratio(o, t)
}

// lost is what ours lost over all rounds.
func (p pair) lost() int64 {
	var n int64
	for _, r := range p.rounds() {
		n += r.Ours.Lost()
	}
	return n
}

func (p pair) met() bool {
	for _, r := range p.rounds() {
		if r.Ours.Err != nil || r.Theirs.Err != nil {
			return false
		}
	}
	return p.cpuRatio() >= targetSpeedup && p.rssRatio() <= targetRSS && p.lost() == 0
}

// median of v (the mean of the middle two for an even count); 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
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
	for _, r := range allRuns(pairs) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.2f\t%.0f\t%.1f\t%.1f\t%.2f\t%.0f\t%.2f\t%.0f\t\n",
			r.Shape, r.Target, r.Sent, r.Arrived, r.Lost(), r.CPU.Seconds(), r.SpansPerCPU(),
			float64(r.ReadyRSS)/mib, float64(r.PeakRSS)/mib, r.Load.Seconds(), ratio(float64(r.Arrived), r.Load.Seconds()),
			r.GenCPU.Seconds(), float64(r.GenRSS)/mib)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range allRuns(pairs) {
		if r.Err != nil {
			fmt.Fprintf(w, "error %s %s: %v\n", r.Shape, r.Target, r.Err)
		}
	}
	return nil
}

// allRuns lists every run of every shape, in the order they ran within each round.
func allRuns(pairs []pair) []result {
	var rs []result
	for _, p := range pairs {
		for i, r := range p.rounds() {
			if i%2 == 0 {
				rs = append(rs, r.Theirs, r.Ours)
			} else {
				rs = append(rs, r.Ours, r.Theirs)
			}
		}
	}
	return rs
}

// writeVerdicts prints, per shape, the ratios against the targets.
func writeVerdicts(w io.Writer, pairs []pair) {
	for _, p := range pairs {
		verdict := "NOT met"
		if p.met() {
			verdict = "met"
		}
		if p.sampled() {
			fmt.Fprintf(w, "target %s: spans_per_cpu %.2fx (want >= %.1f), peak_rss %.2fx (want <= %.1f), kept %d spans more than the Collector over all rounds (trace IDs are random per run: expect 0 give or take a few hundred): %s\n",
				p.Shape, p.cpuRatio(), targetSpeedup, p.rssRatio(), targetRSS, p.keptDiff(), verdict)
			continue
		}
		fmt.Fprintf(w, "target %s: spans_per_cpu %.2fx (want >= %.1f), peak_rss %.2fx (want <= %.1f), lost %d (want 0): %s\n",
			p.Shape, p.cpuRatio(), targetSpeedup, p.rssRatio(), targetRSS, p.lost(), verdict)
	}
}

// keptDiff is, for a sampled shape, the spans ours kept minus the spans theirs kept, over
// all rounds.
func (p pair) keptDiff() int64 {
	var n int64
	for _, r := range p.rounds() {
		n += r.Ours.Arrived - r.Theirs.Arrived
	}
	return n
}

// sampled reports whether the shape keeps only a share of the spans.
func (p pair) sampled() bool { return p.Ours.Sampled }

// writeRatios prints the output contract, one line per shape, ours over theirs.
func writeRatios(w io.Writer, pairs []pair) {
	for _, p := range pairs {
		if p.sampled() {
			fmt.Fprintf(w, "ratio %s spans_per_cpu=%.2f peak_rss=%.2f kept_diff=%d\n",
				p.Shape, p.cpuRatio(), p.rssRatio(), p.keptDiff())
			continue
		}
		fmt.Fprintf(w, "ratio %s spans_per_cpu=%.2f peak_rss=%.2f lost=%d\n",
			p.Shape, p.cpuRatio(), p.rssRatio(), p.lost())
	}
}

// writeTSV writes every run as tab-separated values with a header, for later processing.
func writeTSV(w io.Writer, pairs []pair) error {
	_, err := fmt.Fprintln(w, "shape\tcollector\tsent\tarrived\tlost\tcpu_seconds\tspans_per_cpu_second\tready_rss_bytes\tpeak_rss_bytes\tload_seconds\tgen_cpu_seconds\tgen_peak_rss_bytes\terror")
	for _, r := range allRuns(pairs) {
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
	return err
}
