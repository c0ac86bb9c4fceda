package component

import (
	"context"
	"net/http"

	"github.com/otlp-dev/otlp/internal/tap"
)

// Service is a side service: a component beside the data path (rule engine, fleet server,
// anomaly engine, trace store). It sees data only through taps, so it can never slow or block
// a pipeline.
type Service interface {
	Component
}

// Reconfigurer is implemented by services that apply a changed configuration in place,
// keeping their state; a reload restarts a service that does not implement it. The routes and
// checks it registered when it was created stay.
type Reconfigurer interface {
	Reconfigure(ctx context.Context, cfg Config) error
}

// Host is what a side service gets of the server it runs in.
type Host interface {
	// Subscribe taps the pipelines sel matches. The host closes the subscription when the
	// service stops.
	Subscribe(sel tap.Selector, opt tap.Options) (*tap.Subscription, error)
	// Handle serves h on the admin port for pattern (net/http's syntax), behind the admin
	// token. Register routes while being created.
	Handle(pattern string, h http.Handler)
	// HealthCheck adds a check to /ready, named "service/<type>/<name>". A failing critical
	// check makes the server not ready; another degrades it. Register checks while being
	// created.
	HealthCheck(name string, check func(context.Context) error, critical bool)
}

// ServiceSettings are what the host gives a side service.
type ServiceSettings struct {
	Settings
	Host Host
}

// ServiceFactory creates a side service. Its type is also the top-level table that
// configures it ([alerting]): the service runs when the file has that table.
type ServiceFactory interface {
	Factory
	CreateService(ctx context.Context, set ServiceSettings, cfg Config) (Service, error)
}

// reservedSection reports whether name is a top-level table of the file itself, which no
// service type may take.
func reservedSection(name string) bool {
	switch name {
	case "otlp", "admin", "receivers", "processors", "exporters", "connectors", "pipelines", "sdk":
		return true
	}
	return false
}
