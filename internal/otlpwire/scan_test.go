package otlpwire

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestScanAgreesWithPdata(t *testing.T) {
	shapes := []shape{
		{},
		{resources: 1},
		{resources: 1, scopes: 1},
		{resources: 1, scopes: 1, items: 1},
		{resources: 2, scopes: 3, items: 7, attrs: 4},
		{resources: 3, scopes: 1, items: 20, attrs: 10, invalidEvery: 4},
	}
	for _, sig := range pipeline.Signals {
		for i, sh := range shapes {
			body := gen(t, sig, uint64(i), sh)
			sum, err := Scan(sig, body)
			if err != nil {
				t.Fatalf("%v %+v: %v", sig, sh, err)
			}
			want, err := pdataDecode(sig, body)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Items != want.items || sum.Resources != want.resources || sum.Scopes != want.scopes || sum.Invalid != want.invalid {
				t.Errorf("%v %+v: Scan = %+v, pdata %+v", sig, sh, sum, want)
			}
			checkBody(t, sig, body, 5, 600)
		}
	}
}

func TestScanMalformed(t *testing.T) {
	good := spanMsg(id(16, 1), id(8, 2))
	tests := []struct {
		name    string
		sig     pipeline.Signal
		body    []byte
		path    string
		problem string
	}{
		{"trace id too short", pipeline.SignalTraces,
			tracesReq([][]byte{good}, [][]byte{good, good, good, spanMsg(id(15, 1), id(8, 2))}),
			"resource_spans[0].scope_spans[1].spans[3].trace_id", "length 15, want 16"},
		{"span id too long", pipeline.SignalTraces, tracesReq([][]byte{spanMsg(id(16, 1), id(9, 2))}),
			"resource_spans[0].scope_spans[0].spans[0].span_id", "length 9, want 8"},
		{"parent span id", pipeline.SignalTraces, tracesReq([][]byte{spanMsg(id(16, 1), id(8, 2), fBytes(4, id(4, 3)))}),
			"resource_spans[0].scope_spans[0].spans[0].parent_span_id", "length 4, want 8"},
		{"link trace id", pipeline.SignalTraces,
			tracesReq([][]byte{spanMsg(id(16, 1), id(8, 2), fMsg(13, fBytes(1, id(16, 1))), fMsg(13, fBytes(1, id(3, 1))))}),
			"resource_spans[0].scope_spans[0].spans[0].links[1].trace_id", "length 3, want 16"},
		{"truncated span", pipeline.SignalTraces, tracesReq([][]byte{good})[:20],
			"resource_spans[0]", "exceeds"},
		{"wrong wire type for span name", pipeline.SignalTraces,
			tracesReq([][]byte{spanMsg(id(16, 1), id(8, 2), fVarint(5, 1))}),
			"resource_spans[0].scope_spans[0].spans[0].name", "wire type 0 (varint), want 2 (length-delimited)"},
		{"wrong wire type for spans", pipeline.SignalTraces,
			fMsg(1, fMsg(2, fVarint(2, 1))),
			"resource_spans[0].scope_spans[0].spans[0]", "wire type 0"},
		{"attribute value wire type", pipeline.SignalTraces,
			tracesReq([][]byte{spanMsg(id(16, 1), id(8, 2), fMsg(9, fBytes(1, []byte("k")), fMsg(2, fBytes(3, []byte("x")))))}),
			"resource_spans[0].scope_spans[0].spans[0].attributes[0].value.int_value", "wire type 2"},
		{"group in unknown field", pipeline.SignalTraces, append(tag(7, wtStartGroup), tag(7, wtEndGroup)...),
			"", "groups are not supported"},
		{"invalid wire type", pipeline.SignalLogs, fMsg(1, tag(9, 7)),
			"resource_logs[0]", "invalid wire type 7"},
		{"field number zero", pipeline.SignalLogs, []byte{0x02, 0x00},
			"", "invalid field number 0"},
		{"varint overflow", pipeline.SignalMetrics,
			fMsg(1, fMsg(2, fMsg(2, append(tag(99, wtVarint), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02)))),
			"resource_metrics[0].scope_metrics[0].metrics[0]", "varint overflows 64 bits"},
		{"truncated varint", pipeline.SignalMetrics, []byte{0x10, 0x80},
			"", "truncated varint"},
		{"packed bucket counts", pipeline.SignalMetrics,
			fMsg(1, fMsg(2, fMsg(2, fMsg(9, fMsg(1, fBytes(6, id(12, 1))))))),
			"resource_metrics[0].scope_metrics[0].metrics[0].histogram.data_points[0].bucket_counts",
			"packed fixed64 length 12 is not a multiple of 8"},
		{"exemplar span id", pipeline.SignalMetrics,
			fMsg(1, fMsg(2, fMsg(2, fMsg(5, fMsg(1, fMsg(5, fBytes(4, id(7, 1)))))))),
			"resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].exemplars[0].span_id", "length 7, want 8"},
		{"log trace id", pipeline.SignalLogs,
			fMsg(1, fMsg(2, fMsg(2, fBytes(9, id(8, 1))))),
			"resource_logs[0].scope_logs[0].log_records[0].trace_id", "length 8, want 16"},
		{"truncated fixed64", pipeline.SignalLogs,
			fMsg(1, fMsg(2, fMsg(2, tag(1, wtI64), []byte{1, 2}))),
			"resource_logs[0].scope_logs[0].log_records[0].time_unix_nano", "truncated fixed64"},
		{"deprecated scopes wire type", pipeline.SignalLogs, fMsg(1, fVarint(1000, 1)),
			"resource_logs[0].instrumentation_library_logs[0]", "wire type 0"},
		{"nesting", pipeline.SignalLogs, deepLog(maxDepth),
			"resource_logs[0].scope_logs[0].log_records[0].body.array_value.values[0]", "nested deeper than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(tt.sig, tt.body)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Scan = %v, want ErrMalformed", err)
			}
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("%T is not a *MalformedError", err)
			}
			if !strings.HasPrefix(me.Path, tt.path) || (tt.path == "" && me.Path != "") {
				t.Errorf("path %q, want %q", me.Path, tt.path)
			}
			if !strings.Contains(me.Problem, tt.problem) {
				t.Errorf("problem %q, want %q", me.Problem, tt.problem)
			}
			if !strings.Contains(err.Error(), me.Path+": "+me.Problem) {
				t.Errorf("message %q lacks path and problem", err)
			}
		})
	}
}

// deepLog is a log record whose body nests arrays depth levels deep.
func deepLog(depth int) []byte {
	v := fBytes(1, []byte("leaf")) // AnyValue.string_value
	for range depth {
		v = fMsg(5, fMsg(1, v)) // AnyValue{array_value: {values: [v]}}
	}
	return fMsg(1, fMsg(2, fMsg(2, fBytes(5, v))))
}

func TestScanInvalidSpans(t *testing.T) {
	zero16, zero8 := make([]byte, 16), make([]byte, 8)
	tests := []struct {
		name    string
		spans   [][]byte
		invalid int
	}{
		{"all valid", [][]byte{spanMsg(id(16, 1), id(8, 1)), spanMsg(id(16, 2), id(8, 2))}, 0},
		{"missing trace id", [][]byte{spanMsg(nil, id(8, 1))}, 1},
		{"missing span id", [][]byte{spanMsg(id(16, 1), nil)}, 1},
		{"zero trace id", [][]byte{spanMsg(zero16, id(8, 1)), spanMsg(id(16, 1), id(8, 1))}, 1},
		{"zero span id", [][]byte{spanMsg(id(16, 1), zero8)}, 1},
		{"empty span", [][]byte{fMsg(2)}, 1},
		{"last occurrence wins", [][]byte{spanMsg(id(16, 1), id(8, 1), fBytes(1, nil))}, 1},
		{"set again after empty", [][]byte{spanMsg(nil, id(8, 1), fBytes(1, id(16, 3)))}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tracesReq(tt.spans)
			sum, err := Scan(pipeline.SignalTraces, body)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Invalid != tt.invalid || sum.Items != len(tt.spans) {
				t.Fatalf("Scan = %+v, want %d invalid of %d", sum, tt.invalid, len(tt.spans))
			}
			checkBody(t, pipeline.SignalTraces, body, 1, 0)
		})
	}
}

// Field 1000 (instrumentation_library_*) counts only when a resource has no current scopes.
func TestScanDeprecatedScopes(t *testing.T) {
	s := spanMsg(id(16, 1), id(8, 1))
	dep := func(spans ...[]byte) []byte { return fMsg(1000, spans...) }
	cur := func(spans ...[]byte) []byte { return fMsg(2, spans...) }
	tests := []struct {
		name  string
		body  []byte
		items int
	}{
		{"only deprecated", fMsg(1, dep(s, s)), 2},
		{"both: deprecated ignored", fMsg(1, dep(s, s), cur(s)), 1},
		{"empty current scope wins", fMsg(1, cur(), dep(s, s)), 0},
		{"two resources", slices.Concat(fMsg(1, dep(s)), fMsg(1, cur(s, s), dep(s))), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := Scan(pipeline.SignalTraces, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Items != tt.items {
				t.Fatalf("items %d, want %d", sum.Items, tt.items)
			}
			checkBody(t, pipeline.SignalTraces, tt.body, 1, 0)
		})
	}
}

func TestScanUnknownFieldsSkipped(t *testing.T) {
	unknown := slices.Concat(fVarint(99, 5), fFixed64(98, 1), fFixed32(97, 1), fBytes(96, []byte("x")))
	body := fMsg(1, unknown, fMsg(2, unknown, spanMsg(id(16, 1), id(8, 1), unknown, fMsg(9, unknown, fBytes(1, []byte("k")), fMsg(2, unknown)))))
	body = append(body, unknown...)
	sum, err := Scan(pipeline.SignalTraces, body)
	if err != nil || sum.Items != 1 {
		t.Fatalf("Scan = %+v, %v", sum, err)
	}
	checkBody(t, pipeline.SignalTraces, body, 0, 0)
}

func TestScanUnsupportedSignal(t *testing.T) {
	if _, err := Scan(0, nil); err == nil || errors.Is(err, ErrMalformed) {
		t.Fatalf("Scan(0) = %v, want a plain error", err)
	}
}

func TestScanDoesNotAllocate(t *testing.T) {
	for _, sig := range pipeline.Signals {
		body := gen(t, sig, 1, shape{resources: 2, scopes: 2, items: 20, attrs: 10, invalidEvery: 3})
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := Scan(sig, body); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per Scan, want 0", sig, allocs)
		}
	}
}

// TestMutationsAgreeWithPdata is a bounded, deterministic differential run: pdata bodies with
// bytes flipped, inserted, deleted and truncated.
func TestMutationsAgreeWithPdata(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	accepted := 0
	for _, sig := range pipeline.Signals {
		base := gen(t, sig, 3, shape{resources: 2, scopes: 2, items: 3, attrs: 3, invalidEvery: 5})
		for range 400 {
			b := slices.Clone(base)
			for range 1 + r.IntN(3) {
				switch p := r.IntN(len(b)); r.IntN(4) {
				case 0:
					b[p] = byte(r.Uint32())
				case 1:
					b[p] ^= 1 << r.IntN(8)
				case 2:
					b = slices.Insert(b, p, byte(r.Uint32()))
				case 3:
					b = b[:p]
				}
				if len(b) == 0 {
					break
				}
			}
			if _, err := Scan(sig, b); err == nil {
				accepted++
			}
			checkBody(t, sig, b, 1+r.IntN(10), 50+r.IntN(500))
		}
	}
	if accepted < 50 {
		t.Errorf("only %d mutated bodies were well formed: the property was barely exercised", accepted)
	}
	t.Logf("%d of 1200 mutated bodies were well formed", accepted)
}
