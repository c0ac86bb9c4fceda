package sender

import (
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// Delivery points at the delivery settings in a network exporter's configuration, so that
// defaults kept elsewhere ([otlp.resilience], [otlp.transport]) reach every such exporter.
type Delivery struct {
	Retry   *RetryConfig
	Timeout *time.Duration
	Breaker *resilience.BreakerConfig
	Queue   *QueueConfig
}

// Deliverer is implemented by the configurations of exporters that send over the network.
type Deliverer interface {
	Delivery() Delivery
}

// BatchesQueue reports whether the exporter merges batches after its sending queue.
func (d Delivery) BatchesQueue() bool { return d.Queue.Enabled && d.Queue.Batch.Enabled }
