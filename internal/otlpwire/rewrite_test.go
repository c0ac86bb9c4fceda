package otlpwire

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestSplitLimits(t *testing.T) {
	for _, sig := range pipeline.Signals {
		body := gen(t, sig, 5, shape{resources: 3, scopes: 2, items: 10, attrs: 3})
		for _, maxItems := range []int{0, 1, 7, 10, 60, 1000} {
			for _, maxBytes := range []int{0, 100, 700, 5000} {
				t.Run(fmt.Sprintf("%v/items=%d/bytes=%d", sig, maxItems, maxBytes), func(t *testing.T) {
					checkBody(t, sig, body, maxItems, maxBytes)
				})
			}
		}
	}
}

func TestSplitCounts(t *testing.T) {
	body := gen(t, pipeline.SignalTraces, 1, shape{resources: 3, scopes: 2, items: 10})
	for _, tt := range []struct{ maxItems, parts int }{{1, 60}, {7, 9}, {10, 6}, {30, 2}, {59, 2}, {60, 1}} {
		var sizes []int
		err := Split(pipeline.SignalTraces, body, tt.maxItems, 0, func(_ []byte, items int) error {
			sizes = append(sizes, items)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(sizes) != tt.parts {
			t.Errorf("maxItems %d: %d parts %v, want %d", tt.maxItems, len(sizes), sizes, tt.parts)
		}
		for i, n := range sizes[:len(sizes)-1] {
			if n != tt.maxItems {
				t.Errorf("maxItems %d: part %d has %d items; greedy parts are full", tt.maxItems, i, n)
			}
		}
	}
}

func TestSplitWholeBodyFits(t *testing.T) {
	body := gen(t, pipeline.SignalLogs, 1, shape{resources: 1, scopes: 1, items: 3})
	calls := 0
	err := Split(pipeline.SignalLogs, body, 3, len(body), func(part []byte, items int) error {
		calls++
		if unsafe.SliceData(part) != unsafe.SliceData(body) || items != 3 {
			t.Errorf("want body itself with 3 items, got %d bytes, %d items", len(part), items)
		}
		return nil
	})
	if err != nil || calls != 1 {
		t.Fatalf("Split = %v after %d calls", err, calls)
	}
}

func TestSplitNeverCutsAMetric(t *testing.T) {
	// Histograms (k%5 == 2) get 1..3 points; a limit of 1 point must still keep each whole.
	body := gen(t, pipeline.SignalMetrics, 9, shape{resources: 1, scopes: 1, items: 10})
	parts := 0
	err := Split(pipeline.SignalMetrics, body, 1, 0, func(part []byte, items int) error {
		parts++
		d, err := pdataDecode(pipeline.SignalMetrics, part)
		if err != nil || d.msgs != 1 {
			t.Fatalf("part %d: %d metrics (%v), want exactly 1", parts, d.msgs, err)
		}
		return nil
	})
	if err != nil || parts != 10 {
		t.Fatalf("Split = %v, %d parts, want 10", err, parts)
	}
}

func TestSplitOversizedItemGoesAlone(t *testing.T) {
	big := spanMsg(id(16, 1), id(8, 1), fBytes(5, make([]byte, 1000)))
	small := spanMsg(id(16, 2), id(8, 2))
	body := tracesReq([][]byte{small, big, small})
	var sizes []int
	err := Split(pipeline.SignalTraces, body, 0, 200, func(part []byte, items int) error {
		sizes = append(sizes, len(part))
		return nil
	})
	if err != nil || len(sizes) != 3 || sizes[1] < 1000 || sizes[0] > 200 || sizes[2] > 200 {
		t.Fatalf("Split = %v, part sizes %v", err, sizes)
	}
	checkBody(t, pipeline.SignalTraces, body, 0, 200)
}

func TestSplitStopsOnEmitError(t *testing.T) {
	body := gen(t, pipeline.SignalTraces, 1, shape{resources: 1, scopes: 1, items: 5})
	stop := errors.New("stop")
	calls := 0
	err := Split(pipeline.SignalTraces, body, 1, 0, func([]byte, int) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Split = %v after %d calls", err, calls)
	}
}

func TestSplitEmptyRequest(t *testing.T) {
	for _, body := range [][]byte{nil, fMsg(1), fMsg(1, fMsg(2)), fMsg(1, fMsg(2, fMsg(1)))} {
		err := Split(pipeline.SignalTraces, body, 1, 1, func([]byte, int) error {
			t.Fatalf("emit called for %x", body)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSplitMalformed(t *testing.T) {
	err := Split(pipeline.SignalTraces, []byte{0x0a, 0x05}, 1, 0, func([]byte, int) error {
		t.Fatal("emit called")
		return nil
	})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("Split = %v, want ErrMalformed", err)
	}
}

func TestDropInvalid(t *testing.T) {
	valid := spanMsg(id(16, 1), id(8, 1))
	bad := spanMsg(nil, id(8, 1))
	tests := []struct {
		name                     string
		body                     []byte
		dropped, scopes, resLeft int
	}{
		{"nothing invalid", tracesReq([][]byte{valid, valid}), 0, 1, 1},
		{"some invalid", tracesReq([][]byte{valid, bad, valid}), 1, 1, 1},
		{"scope emptied", tracesReq([][]byte{bad, bad}, [][]byte{valid}), 2, 1, 1},
		{"resource emptied", append(tracesReq([][]byte{bad}), tracesReq([][]byte{valid})...), 1, 1, 1},
		{"all invalid", tracesReq([][]byte{bad}, [][]byte{bad}), 2, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("keep")
			out, dropped, err := DropInvalid(pipeline.SignalTraces, tt.body, prefix)
			if err != nil || dropped != tt.dropped || string(out[:4]) != "keep" {
				t.Fatalf("DropInvalid = %d, %v", dropped, err)
			}
			sum, err := Scan(pipeline.SignalTraces, out[4:])
			if err != nil {
				t.Fatal(err)
			}
			if sum.Invalid != 0 || sum.Scopes != tt.scopes || sum.Resources != tt.resLeft {
				t.Fatalf("output %+v, want %d scopes in %d resources", sum, tt.scopes, tt.resLeft)
			}
			checkBody(t, pipeline.SignalTraces, tt.body, 2, 0)
		})
	}
	for _, sig := range []pipeline.Signal{pipeline.SignalMetrics, pipeline.SignalLogs} {
		body := gen(t, sig, 1, shape{resources: 1, scopes: 1, items: 2})
		out, dropped, err := DropInvalid(sig, body, nil)
		if err != nil || dropped != 0 || string(out) != string(body) {
			t.Fatalf("%v: DropInvalid = %d, %v", sig, dropped, err)
		}
	}
	if _, _, err := DropInvalid(pipeline.SignalTraces, []byte{0x0a, 0x05}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("DropInvalid(malformed) = %v", err)
	}
}
