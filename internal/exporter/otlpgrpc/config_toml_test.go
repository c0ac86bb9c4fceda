package otlpgrpc_test

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/internal/exporter/otlpgrpc"
	"github.com/otlp-dev/otlp/internal/exporter/sender"
	"github.com/otlp-dev/otlp/internal/lb"
)

// TestTOMLKeys decodes the documented keys of the balancer and the disk queue over the
// defaults, as the config package does, and checks every key is known.
func TestTOMLKeys(t *testing.T) {
	const doc = `
endpoints = ["a:4317", "b:4317"]
tls.insecure = true

[balancer]
policy = "consistent_hash"
health.max_fails = 5
circuit_breaker.recovery_timeout = "3s"

[sending_queue]
storage = "disk"
full_policy = "drop_oldest"

[sending_queue.disk]
dir = "queue"
max_disk_mib = 256
max_memory_mib = 8
fsync = "always"
max_age = "24h"

[sending_queue.batch]
enabled = true
min_size = 4096
max_size = 10000
max_bytes = 2097152
flush_timeout = "50ms"
`
	cfg := otlpgrpc.NewDefaultConfig()
	md, err := toml.Decode(doc, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("unknown keys %v", u)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	q := cfg.Queue
	switch {
	case !cfg.Balanced() || cfg.Balancer.Policy != lb.PolicyConsistentHash || cfg.Balancer.Health.MaxFails != 5:
		t.Errorf("balancer %+v", cfg.Balancer)
	case cfg.Balancer.CircuitBreaker.RecoveryTimeout != 3*time.Second:
		t.Errorf("circuit_breaker.recovery_timeout %v", cfg.Balancer.CircuitBreaker.RecoveryTimeout)
	case len(cfg.BalancerConfig().Endpoints) != 2:
		t.Errorf("balancer endpoints %v", cfg.BalancerConfig().Endpoints)
	case !q.Durable() || q.Storage != sender.StorageDisk || q.Disk.Dir != "queue" || q.Disk.MaxDiskMiB != 256:
		t.Errorf("sending_queue %+v", q)
	case q.Disk.MaxAge != 24*time.Hour || q.Disk.Fsync != "always" || q.Disk.FullPolicy != "":
		t.Errorf("sending_queue.disk %+v (full_policy should stay empty: inherited)", q.Disk)
	case q.Batch != (sender.BatchConfig{Enabled: true, MinSize: 4096, MaxSize: 10000, MaxBytes: 2 << 20, FlushTimeout: 50 * time.Millisecond}):
		t.Errorf("sending_queue.batch %+v", q.Batch)
	}
}
