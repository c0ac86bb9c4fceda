package otlpwire

import (
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Edit with functions that change nothing gives what pdata reads from the original; dropping
// items drops exactly those, and the groups left empty.
func TestEdit(t *testing.T) {
	var s EditScratch
	for _, sig := range pipeline.Signals {
		for _, body := range viewSeeds(t, sig) {
			sum, err := Scan(sig, body)
			if err != nil {
				continue
			}
			want, _ := pdataDump(sig, body)
			same := Edits{
				Resource: func(dst, old []byte) []byte { return append(dst, old...) },
				Item:     func(dst, item, _, _ []byte) ([]byte, bool) { return append(dst, item...), true },
			}
			for _, ed := range []Edits{{}, same, {Item: same.Item}, {Resource: same.Resource}} {
				out, dropped, err := Edit(sig, body, nil, ed, &s)
				if err != nil || dropped != 0 {
					t.Fatalf("%v: %v, dropped %d", sig, err, dropped)
				}
				got, ok := pdataDump(sig, out)
				if !ok {
					t.Fatalf("%v: pdata refuses the edited body %x", sig, out)
				}
				// A resource whose Resource occurred twice is rewritten as one merged field, which
				// pdata reads the same.
				if got != want {
					t.Fatalf("%v: an edit that changes nothing changed\n%s\nwant\n%s", sig, got, want)
				}
			}
			n := 0
			out, dropped, err := Edit(sig, body, nil, Edits{Item: func(dst, item, _, _ []byte) ([]byte, bool) {
				n++
				return append(dst, item...), n%2 == 0
			}}, &s)
			if err != nil {
				t.Fatal(err)
			}
			after, err := Scan(sig, out)
			if err != nil {
				t.Fatalf("edited body: %v", err)
			}
			if after.Items+dropped != sum.Items {
				t.Fatalf("%v: %d items left and %d dropped of %d", sig, after.Items, dropped, sum.Items)
			}
			none, dropped, _ := Edit(sig, body, nil, Edits{Item: func(dst, _, _, _ []byte) ([]byte, bool) { return dst, false }}, &s)
			if dropped != sum.Items {
				t.Fatalf("dropped %d of %d", dropped, sum.Items)
			}
			if left, _ := Scan(sig, none); left.Items != 0 {
				t.Fatalf("%d items left after dropping all", left.Items)
			}
			// Keep: the same drops as Item, verbatim copies, and nothing written when all stay.
			n = 0
			kept, dropped2, err := Edit(sig, body, nil, Edits{Keep: func(_, _, _ []byte) bool { n++; return n%2 == 0 }}, &s)
			if err != nil {
				t.Fatal(err)
			}
			if k, _ := Scan(sig, kept); k.Items+dropped2 != sum.Items {
				t.Fatalf("Keep: %d left, %d dropped of %d", k.Items, dropped2, sum.Items)
			}
			if all, d, _ := Edit(sig, body, nil, Edits{Keep: func(_, _, _ []byte) bool { return true }}, &s); len(all) != 0 || d != 0 {
				t.Fatalf("keeping everything wrote %d bytes, dropped %d", len(all), d)
			}
		}
	}
}

// Editing reuses its scratch: no allocation once warm.
func TestEditDoesNotAllocate(t *testing.T) {
	body := gen(t, pipeline.SignalTraces, 9, shape{resources: 3, scopes: 2, items: 30, attrs: 6})
	var s EditScratch
	dst := make([]byte, 0, 2*len(body))
	ed := Edits{Item: func(dst, item, _, _ []byte) ([]byte, bool) { return append(dst, item...), len(item)%2 == 0 }}
	n := testing.AllocsPerRun(20, func() { dst, _, _ = Edit(pipeline.SignalTraces, body, dst[:0], ed, &s) })
	if n != 0 {
		t.Fatalf("%v allocations per edit", n)
	}
}
