// Package components lists every component otlp-server and otlp-agent are built from. Adding
// a component means writing its package (with a NewFactory) and adding one line here.
package components

import (
	"github.com/otlp-dev/otlp/internal/component"
	"github.com/otlp-dev/otlp/internal/connector/count"
	"github.com/otlp-dev/otlp/internal/connector/forward"
	"github.com/otlp-dev/otlp/internal/connector/routing"
	"github.com/otlp-dev/otlp/internal/exporter/debug"
	"github.com/otlp-dev/otlp/internal/exporter/file"
	"github.com/otlp-dev/otlp/internal/exporter/nop"
	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/otlphttp"
	"github.com/otlp-dev/otlp/internal/processor/attributes"
	"github.com/otlp-dev/otlp/internal/processor/batch"
	"github.com/otlp-dev/otlp/internal/processor/filter"
	"github.com/otlp-dev/otlp/internal/processor/memlimit"
	"github.com/otlp-dev/otlp/internal/processor/probsampler"
	"github.com/otlp-dev/otlp/internal/processor/resource"
	"github.com/otlp-dev/otlp/internal/processor/tailsampling"
	"github.com/otlp-dev/otlp/internal/receiver"
	"github.com/otlp-dev/otlp/internal/receiver/hostmetrics"
)

// List returns a fresh instance of every factory, receivers first. Fresh because a factory may
// hold what its instances share within one server (the memory limiter's owner of the Go
// memory limit).
func List() []component.Factory {
	return []component.Factory{
		receiver.NewFactory(),
		hostmetrics.NewFactory(),

		batch.NewFactory(),
		memlimit.NewFactory(),
		resource.NewFactory(),
		attributes.NewFactory(),
		filter.NewFactory(),
		probsampler.NewFactory(),
		tailsampling.NewFactory(),

		otlpgrpc.NewFactory(),
		otlphttp.NewFactory(),
		debug.NewFactory(),
		file.NewFactory(),
		nop.NewFactory(),

		forward.NewFactory(),
		routing.NewFactory(),
		count.NewFactory(),
	}
}

// Default indexes List.
func Default() component.Factories {
	f, err := component.NewFactories(List()...)
	if err != nil {
		panic(err) // the list above is fixed: a duplicate is a programming error caught by its test
	}
	return f
}
