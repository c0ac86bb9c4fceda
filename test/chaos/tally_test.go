//go:build chaos

package chaos

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// tally counts the copies of each span number found in the collectors' files.
type tally struct {
	copies map[uint64]uint32
	lines  int
}

func newTally() *tally { return &tally{copies: map[uint64]uint32{}} }

// tailer reads a growing OTLP JSON lines file incrementally.
type tailer struct {
	path    string
	off     int64
	partial []byte // an incomplete last line, completed by a later read
	spans   int    // spans read from this file
}

// read parses the complete lines added since the last read into t.
func (tl *tailer) read(t *tally) error {
	f, err := os.Open(tl.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the collector has written nothing yet
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(tl.off, io.SeekStart); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	tl.off += int64(len(data))
	data = append(tl.partial, data...)
	end := bytes.LastIndexByte(data, '\n')
	tl.partial = bytes.Clone(data[end+1:])
	var dec ptrace.JSONUnmarshaler
	for line := range bytes.Lines(data[:end+1]) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		td, err := dec.UnmarshalTraces(line)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", tl.path, t.lines+1, err)
		}
		t.lines++
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					id := s.SpanID()
					t.copies[binary.BigEndian.Uint64(id[:])-1]++ // testutil.SpanID(n) is n+1
					tl.spans++
				}
			}
		}
	}
	return nil
}

// result is what the chaos run reports.
type result struct {
	sent, delivered, lost, duplicates int
}

func (r result) String() string {
	return fmt.Sprintf("chaos sent=%d delivered=%d lost=%d duplicates=%d", r.sent, r.delivered, r.lost, r.duplicates)
}

func (r *result) add(o result) {
	r.sent += o.sent
	r.delivered += o.delivered
	r.lost += o.lost
	r.duplicates += o.duplicates
}

// score compares what was acknowledged with what arrived: sent counts the span ids of
// acknowledged requests, delivered the distinct ids found, lost the acknowledged ids not
// found, duplicates the copies beyond the first.
func score(c *client, t *tally) (result, []int) {
	var r result
	var lostReqs []int
	for i := range c.acked {
		if !c.acked[i].Load() {
			continue
		}
		r.sent += c.spansPer
		missing := 0
		for k := range c.spansPer {
			if t.copies[uint64(i*c.spansPer+k)] == 0 {
				missing++
			}
		}
		if missing > 0 {
			r.lost += missing
			lostReqs = append(lostReqs, i)
		}
	}
	for _, n := range t.copies {
		r.delivered++
		r.duplicates += int(n) - 1
	}
	return r, lostReqs
}

// duplicateRanges lists the requests whose spans arrived more than once, as runs of
// consecutive request numbers with their extra copies, so a log ties duplicates to the fault
// that was injected while those requests were sent.
func duplicateRanges(c *client, t *tally) []string {
	var out []string
	start, extra := -1, 0
	flush := func(end int) {
		if start >= 0 {
			out = append(out, fmt.Sprintf("%d-%d:+%d", start, end, extra))
		}
		start, extra = -1, 0
	}
	for i := range c.acked {
		n := 0
		for k := range c.spansPer {
			if m := t.copies[uint64(i*c.spansPer+k)]; m > 1 {
				n += int(m) - 1
			}
		}
		if n == 0 {
			flush(i - 1)
			continue
		}
		if start < 0 {
			start = i
		}
		extra += n
	}
	flush(len(c.acked) - 1)
	return out
}
