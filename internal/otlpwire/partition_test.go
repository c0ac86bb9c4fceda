package otlpwire

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// hashPart is a keyOf for tests: a pure function of the key; keyless items go to the last part.
func hashPart(n int) func([]byte) int {
	return func(key []byte) int {
		if key == nil {
			return n - 1
		}
		h := fnv.New32a()
		h.Write(key)
		return int(h.Sum32() % uint32(n))
	}
}

// keyedItem is one item message of a request, flattened by pdata (see pdataDecode), with the
// key Partition should see (the trace id, or the resource's bytes for metrics) and the index
// of its resource.
type keyedItem struct {
	flat string
	key  []byte // nil when keyless (and always for metrics)
	res  int
}

func keyedItems(t *testing.T, sig pipeline.Signal, body []byte) []keyedItem {
	t.Helper()
	d, err := pdataDecode(sig, body)
	if err != nil {
		t.Fatalf("pdata: %v", err)
	}
	items := make([]keyedItem, 0, len(d.flat))
	add := func(res int, id pcommon.TraceID) {
		it := keyedItem{flat: d.flat[len(items)], res: res}
		if !id.IsEmpty() {
			it.key = slices.Clone(id[:])
		}
		items = append(items, it)
	}
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		_ = req.UnmarshalProto(body)
		for r, rs := range req.Traces().ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					add(r, sp.TraceID())
				}
			}
		}
	case pipeline.SignalLogs:
		req := plogotlp.NewExportRequest()
		_ = req.UnmarshalProto(body)
		for r, rl := range req.Logs().ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					add(r, lr.TraceID())
				}
			}
		}
	default:
		keys := resourceKeys(body)
		req := pmetricotlp.NewExportRequest()
		_ = req.UnmarshalProto(body)
		for r, rm := range req.Metrics().ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for range sm.Metrics().All() {
					items = append(items, keyedItem{flat: d.flat[len(items)], key: keys[r], res: r})
				}
			}
		}
	}
	return items
}

// resourceKeys returns, for each resource group of a well-formed request, the bytes of its
// resource field (the last one, as pdata keeps), or nil when absent or empty.
func resourceKeys(body []byte) [][]byte {
	var keys [][]byte
	for pos := 0; pos < len(body); {
		num, wt, next, _ := readTag(body, pos)
		if num != fRequestResources {
			pos, _ = skipValue(body, next, num, wt)
			continue
		}
		start, end, _ := readLen(body, next)
		key := lastLenField(body[start:end], fResource)
		if len(key) == 0 {
			key = nil
		}
		keys = append(keys, key)
		pos = end
	}
	return keys
}

// checkPartition is the differential property of Partition against pdata: each part decodes,
// holds the items emit says, and holds exactly the items whose key maps to it, in their
// original order.
func checkPartition(t *testing.T, sig pipeline.Signal, body []byte, n int) {
	t.Helper()
	orig := slices.Clone(body)
	sum, err := Scan(sig, body)
	if err != nil {
		err2 := Partition(sig, body, n, hashPart(n), func(int, []byte, int) error {
			t.Fatal("Partition emitted a part of a body Scan rejects")
			return nil
		})
		if !errors.Is(err2, ErrMalformed) {
			t.Fatalf("Partition = %v for a body Scan rejects (%v)", err2, err)
		}
		return
	}
	want := keyedItems(t, sig, body)
	keyOf := hashPart(n)
	got := map[int][]string{}
	last, total := -1, 0
	err = Partition(sig, body, n, keyOf, func(part int, b []byte, items int) error {
		if part <= last || part >= n {
			t.Fatalf("part %d after %d (n = %d)", part, last, n)
		}
		last = part
		d, err := pdataDecode(sig, b)
		if err != nil {
			t.Fatalf("part %d does not decode: %v", part, err)
		}
		if d.items != items || d.msgs == 0 {
			t.Fatalf("part %d: emit says %d items, pdata counts %d in %d messages", part, items, d.items, d.msgs)
		}
		total += items
		got[part] = d.flat
		return nil
	})
	if err != nil {
		t.Fatalf("Partition: %v", err)
	}
	if total != sum.Items {
		t.Fatalf("parts hold %d items, body %d", total, sum.Items)
	}
	wantParts := map[int][]string{}
	for _, it := range want {
		part := keyOf(it.key)
		wantParts[part] = append(wantParts[part], it.flat)
	}
	for part := range n {
		if !slices.Equal(got[part], wantParts[part]) {
			t.Fatalf("part %d holds %d items, want %d (or a different order)", part, len(got[part]), len(wantParts[part]))
		}
	}
	if !slices.Equal(body, orig) {
		t.Fatal("body was modified")
	}
}

// sharedTraces returns traces whose spans share traceIDs trace ids, spread over resources and
// scopes, so that one trace has spans in several envelopes.
func sharedTraces(t testing.TB, seed uint64, sh shape, traceIDs int) []byte {
	td := genTraces(seed, sh)
	k := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				var id pcommon.TraceID
				id[0], id[15] = 0xab, byte(k%traceIDs+1)
				sp.SetTraceID(id)
				k++
			}
		}
	}
	return encodeTraces(t, td)
}

func TestPartition(t *testing.T) {
	for _, sig := range pipeline.Signals {
		for _, sh := range []shape{
			{resources: 1, scopes: 1, items: 1},
			{resources: 3, scopes: 2, items: 10, attrs: 2},
			{resources: 5, scopes: 1, items: 4, invalidEvery: 3},
		} {
			for _, n := range []int{1, 2, 3, 7} {
				t.Run(fmt.Sprintf("%v/%d-%d-%d/n=%d", sig, sh.resources, sh.scopes, sh.items, n), func(t *testing.T) {
					checkPartition(t, sig, gen(t, sig, 11, sh), n)
				})
			}
		}
	}
	for _, n := range []int{2, 3, 5} {
		checkPartition(t, pipeline.SignalTraces, sharedTraces(t, 3, shape{resources: 3, scopes: 2, items: 7}, 4), n)
	}
}

func TestPartitionKeepsTracesTogether(t *testing.T) {
	body := sharedTraces(t, 5, shape{resources: 4, scopes: 3, items: 5}, 6)
	home := map[pcommon.TraceID]int{}
	calls := 0
	keyOf := func(key []byte) int {
		calls++
		return int(key[15]) % 3
	}
	err := Partition(pipeline.SignalTraces, body, 3, keyOf, func(part int, b []byte, items int) error {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return err
		}
		for _, rs := range req.Traces().ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					if p, ok := home[sp.TraceID()]; ok && p != part {
						t.Errorf("trace %x in parts %d and %d", sp.TraceID(), p, part)
					}
					home[sp.TraceID()] = part
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(home) != 6 {
		t.Fatalf("%d traces arrived, want 6", len(home))
	}
	// A run of spans of one trace costs one keyOf call.
	calls = 0
	one := sharedTraces(t, 5, shape{resources: 2, scopes: 2, items: 5}, 1)
	if err := Partition(pipeline.SignalTraces, one, 3, keyOf, func(int, []byte, int) error { return nil }); err != nil || calls != 1 {
		t.Errorf("one trace of 20 spans: keyOf called %d times (%v), want once", calls, err)
	}
}

func TestPartitionOnePartIsTheBody(t *testing.T) {
	body := gen(t, pipeline.SignalLogs, 1, shape{resources: 2, scopes: 1, items: 3})
	calls := 0
	err := Partition(pipeline.SignalLogs, body, 4, func([]byte) int { return 2 }, func(part int, b []byte, items int) error {
		calls++
		if part != 2 || items != 6 || unsafe.SliceData(b) != unsafe.SliceData(body) {
			t.Errorf("got part %d, %d items, want body itself as part 2 with 6 items", part, items)
		}
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("Partition = %v after %d calls", err, calls)
	}
}

func TestPartitionLogsWithoutTraceID(t *testing.T) {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := range 6 {
		lr := sl.LogRecords().AppendEmpty()
		lr.Body().SetStr(fmt.Sprint(i))
		if i%2 == 1 {
			lr.SetTraceID(pcommon.TraceID{1, byte(i)})
		}
	}
	body := encodeLogs(t, ld)
	var keys [][]byte
	parts := map[int]int{}
	err := Partition(pipeline.SignalLogs, body, 2, func(key []byte) int {
		keys = append(keys, slices.Clone(key))
		if key == nil {
			return 0
		}
		return 1
	}, func(part int, _ []byte, items int) error {
		parts[part] = items
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if parts[0] != 3 || parts[1] != 3 {
		t.Fatalf("parts %v, want 3 keyless records in part 0 and 3 in part 1", parts)
	}
	if keys[0] != nil || len(keys[1]) != 16 {
		t.Fatalf("keys %x: want nil for a record without a trace id, 16 bytes otherwise", keys)
	}
}

func TestPartitionMetricsByResource(t *testing.T) {
	body := gen(t, pipeline.SignalMetrics, 2, shape{resources: 4, scopes: 2, items: 3})
	seen := map[string]int{}
	err := Partition(pipeline.SignalMetrics, body, 4, func(key []byte) int {
		if _, ok := seen[string(key)]; !ok {
			seen[string(key)] = len(seen)
		}
		return seen[string(key)]
	}, func(part int, b []byte, _ int) error {
		d, err := pdataDecode(pipeline.SignalMetrics, b)
		if err != nil || d.resources != 1 || d.scopes != 2 || d.msgs != 6 {
			t.Errorf("part %d: %+v, %v; want one whole resource (2 scopes, 6 metrics)", part, d, err)
		}
		return nil
	})
	if err != nil || len(seen) != 4 {
		t.Fatalf("Partition = %v with %d distinct resource keys, want 4", err, len(seen))
	}
}

func TestPartitionErrors(t *testing.T) {
	body := gen(t, pipeline.SignalTraces, 1, shape{resources: 1, scopes: 1, items: 4})
	noEmit := func(int, []byte, int) error { t.Error("emit called"); return nil }
	if err := Partition(pipeline.SignalTraces, body, 2, func([]byte) int { return 2 }, noEmit); !errors.Is(err, ErrPartOutOfRange) {
		t.Errorf("out of range part: %v", err)
	}
	if err := Partition(pipeline.SignalTraces, body, 0, hashPart(1), noEmit); err == nil {
		t.Error("n = 0 accepted")
	}
	if err := Partition(pipeline.SignalTraces, []byte{0xff}, 2, hashPart(2), noEmit); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed body: %v", err)
	}
	if err := Partition(pipeline.SignalTraces, nil, 2, hashPart(2), noEmit); err != nil {
		t.Errorf("empty request: %v", err)
	}
	stop := errors.New("stop")
	calls := 0
	err := Partition(pipeline.SignalTraces, sharedTraces(t, 1, shape{resources: 1, scopes: 1, items: 8}, 8), 4,
		func(k []byte) int { return int(k[15]) % 4 },
		func(int, []byte, int) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("emit error: %v after %d calls", err, calls)
	}
}

func FuzzPartition(f *testing.F) {
	for i, sig := range pipeline.Signals {
		f.Add(uint8(sig), gen(f, sig, uint64(i), shape{resources: 2, scopes: 2, items: 3, attrs: 1}), uint8(3))
	}
	f.Add(uint8(pipeline.SignalTraces), sharedTraces(f, 1, shape{resources: 2, scopes: 2, items: 4}, 3), uint8(2))
	s := spanMsg(id(16, 1), id(8, 1))
	f.Add(uint8(pipeline.SignalTraces), fMsg(1, fMsg(1000, s), fMsg(2, s)), uint8(2))
	f.Add(uint8(pipeline.SignalTraces), tracesReq([][]byte{spanMsg(id(16, 2), id(8, 1), fBytes(1, id(16, 3))), s}), uint8(3))
	f.Fuzz(func(t *testing.T, sig uint8, body []byte, n uint8) {
		s := pipeline.Signals[int(sig)%len(pipeline.Signals)]
		checkPartition(t, s, body, int(n%8)+1)
	})
}
