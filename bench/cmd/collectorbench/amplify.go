package main

// The amplify suite (bench/amplify.sh): what one 15 MB OTLP/HTTP request whose spans each sit in
// their own resource envelope costs each collector (the layout every stage that walks or splits
// the request pays for), alone and eight at once, as protobuf and as JSON. Both run
// memory_limiter (512 MiB, spike 102 MiB) -> batch -> nop and are probed the same way (a TCP
// connect to the receiver); a fresh process per run.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// amplifyCase is one payload format and how many requests are sent at once.
type amplifyCase struct {
	Format      string // "proto" or "json"
	Concurrency int
}

func (c amplifyCase) name() string { return fmt.Sprintf("%s-c%d", c.Format, c.Concurrency) }

// amplifyResult is one run of one case on one collector.
type amplifyResult struct {
	CPU      time.Duration // utime+stime from ready to the last answer
	PeakRSS  int64         // VmHWM, bytes
	Accepted int           // requests answered 200
	Refused  int           // answered 429 / 503 (retryable: the sender keeps its data)
	Other    []string      // any other answer or transport error
	Slowest  time.Duration
	Err      error
}

// amplifyBody builds an export request of about size bytes with one span per resource.
func amplifyBody(format string, size int) ([]byte, int, error) {
	marshal := func(n int) ([]byte, error) {
		td := ptrace.NewTraces()
		for i := range n {
			s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{1, byte(i), byte(i >> 8), byte(i >> 16)})
			s.SetSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8), byte(i >> 16)})
			s.SetName("x")
		}
		req := ptraceotlp.NewExportRequestFromTraces(td)
		if format == "json" {
			return req.MarshalJSON()
		}
		return req.MarshalProto()
	}
	one, err := marshal(1000)
	if err != nil {
		return nil, 0, err
	}
	n := size * 1000 / len(one)
	b, err := marshal(n)
	return b, n, err
}

func runAmplify(ctx context.Context, o options, stdout io.Writer) error {
	theirs := target{Name: "otelcol", Bin: o.Otelcol, Configs: map[string]string{"amplify": filepath.Join(o.ConfigDir, "otelcol.yaml")}}
	ours := target{Name: "otlp", Bin: o.OtlpServer, Configs: map[string]string{"amplify": filepath.Join(o.ConfigDir, "otlp.toml")}}
	if o.Ours == "otelcol" {
		ours = theirs
		ours.Name = "otelcol-as-ours"
	}
	if err := os.MkdirAll(filepath.Join(o.OutDir, "logs"), 0o755); err != nil {
		return err
	}
	cases := []amplifyCase{{"proto", 1}, {"proto", 8}, {"json", 1}, {"json", 8}}
	bodies := map[string][]byte{}
	for _, f := range []string{"proto", "json"} {
		b, n, err := amplifyBody(f, 15_000_000)
		if err != nil {
			return err
		}
		bodies[f] = b
		fmt.Fprintf(stdout, "payload %s: %d bytes, %d resource envelopes of one span each\n", f, len(b), n)
	}
	type runs struct{ theirs, ours []amplifyResult }
	all := map[string]*runs{}
	var runErr error
	for _, c := range cases {
		r := &runs{}
		all[c.name()] = r
		for i := range o.Rounds {
			one := func(t target) amplifyResult {
				res := amplifyRun(ctx, o, t, c, bodies[c.Format])
				if res.Err != nil {
					fmt.Fprintf(stdout, "%s %s round %d: %v\n", t.Name, c.name(), i+1, res.Err)
				}
				runErr = errors.Join(runErr, res.Err)
				return res
			}
			if i%2 == 0 {
				r.theirs = append(r.theirs, one(theirs))
				r.ours = append(r.ours, one(ours))
			} else {
				r.ours = append(r.ours, one(ours))
				r.theirs = append(r.theirs, one(theirs))
			}
		}
	}
	med := func(rs []amplifyResult, f func(amplifyResult) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	cpu := func(r amplifyResult) float64 { return r.CPU.Seconds() }
	rss := func(r amplifyResult) float64 { return float64(r.PeakRSS) / (1 << 20) }
	acc := func(r amplifyResult) float64 { return float64(r.Accepted) }
	slow := func(r amplifyResult) float64 { return r.Slowest.Seconds() }
	fmt.Fprintf(stdout, "\nmedians of %d rounds; refused = 429/503 (retryable, the sender keeps its data)\n", o.Rounds)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tcollector\tpeak RSS MiB\tCPU s\taccepted\tslowest answer s\tother answers")
	for _, c := range cases {
		r := all[c.name()]
		for _, side := range []struct {
			name string
			rs   []amplifyResult
		}{{theirs.Name, r.theirs}, {ours.Name, r.ours}} {
			var other []string
			for _, x := range side.rs {
				other = append(other, x.Other...)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.0f/%d\t%.2f\t%s\n", c.name(), side.name, med(side.rs, rss), med(side.rs, cpu),
				med(side.rs, acc), c.Concurrency, med(side.rs, slow), strings.Join(other, "; "))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	for _, c := range cases {
		r := all[c.name()]
		fmt.Fprintf(stdout, "ratio amplify-%s peak_rss=%.2f cpu=%.2f accepted_ours=%.0f accepted_theirs=%.0f of=%d\n", c.name(),
			ratio(med(r.ours, rss), med(r.theirs, rss)), ratio(med(r.ours, cpu), med(r.theirs, cpu)),
			med(r.ours, acc), med(r.theirs, acc), c.Concurrency)
	}
	if runErr != nil {
		return errRunsFailed
	}
	return nil
}

// amplifyRun starts t, sends c.Concurrency copies of body at once, and measures.
func amplifyRun(ctx context.Context, o options, t target, c amplifyCase, body []byte) (res amplifyResult) {
	logf, err := os.Create(filepath.Join(o.OutDir, "logs", "amplify-"+t.Name+"-"+c.name()+".log"))
	if err != nil {
		return amplifyResult{Err: err}
	}
	defer logf.Close()
	var env []string
	if o.GOGC != "" {
		env = append(env, "GOGC="+o.GOGC)
	}
	p, err := startProc(t.Bin, []string{"--config", t.Configs["amplify"]}, env, logf)
	if err != nil {
		return amplifyResult{Err: err}
	}
	defer func() {
		if err := p.stop(30 * time.Second); err != nil && res.Err == nil {
			res.Err = fmt.Errorf("stop: %w", err)
		}
	}()
	addr := "127.0.0.1:14318"
	deadline := time.Now().Add(o.ReadyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return amplifyResult{Err: fmt.Errorf("%s never listened on %s: %w", t.Name, addr, err)}
		}
		select {
		case <-p.exited:
			return amplifyResult{Err: fmt.Errorf("%s exited: %w", t.Name, p.err)}
		case <-time.After(50 * time.Millisecond):
		}
	}
	cpu0, err := procCPU(p.pid())
	if err != nil {
		return amplifyResult{Err: err}
	}
	ct := "application/x-protobuf"
	if c.Format == "json" {
		ct = "application/json"
	}
	hc := &http.Client{Timeout: 2 * time.Minute}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range c.Concurrency {
		wg.Go(func() {
			start := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", ct)
			resp, err := hc.Do(req)
			took := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			res.Slowest = max(res.Slowest, took)
			if err != nil {
				res.Other = append(res.Other, err.Error())
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				res.Accepted++
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				res.Refused++
			default:
				res.Other = append(res.Other, resp.Status)
			}
		})
	}
	wg.Wait()
	cpu1, err := procCPU(p.pid())
	if err != nil {
		return amplifyResult{Err: fmt.Errorf("%s died under the load: %w", t.Name, err)}
	}
	res.CPU = cpu1 - cpu0
	if res.PeakRSS, err = procPeakRSS(p.pid()); err != nil {
		res.Err = err
	}
	return res
}
