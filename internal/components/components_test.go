package components

import (
	"testing"

	"github.com/otlp-dev/otlp/internal/component"
)

// The list indexes without a duplicate, and every factory's defaults validate, so that a
// component configured with an empty table works.
func TestList(t *testing.T) {
	f, err := component.NewFactories(List()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, fac := range List() {
		if len(fac.Signals()) == 0 {
			t.Errorf("%s %q supports no signal", fac.Kind(), fac.Type())
		}
		cfg := fac.NewDefaultConfig()
		// these cannot work without being told where to send or how to route
		needsSettings := map[string]bool{"exporter/file": true, "exporter/otlp": true, "exporter/otlphttp": true, "connector/routing": true,
			"processor/resource": true, "processor/attributes": true, "processor/filter": true, "processor/tail_sampling": true}
		if err := cfg.Validate(); err != nil && !needsSettings[fac.Kind().String()+"/"+fac.Type()] {
			t.Errorf("%s %q: defaults do not validate: %v", fac.Kind(), fac.Type(), err)
		}
		if got, _ := f.Lookup(fac.Kind(), fac.Type()); got == nil {
			t.Errorf("%s %q not indexed", fac.Kind(), fac.Type())
		}
	}
	if _, err := component.NewFactories(append(List(), List()[0])...); err == nil {
		t.Error("a type listed twice was accepted")
	}
}
