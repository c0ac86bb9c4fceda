package sender

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/otlp-dev/otlp/internal/queue"
)

// Full policies of the memory queue.
const (
	// PolicyBlock makes Consume wait up to block_timeout for room, then refuse with a
	// resilience.Throttled error (receivers answer 429 / RESOURCE_EXHAUSTED).
	PolicyBlock = "block"
	// PolicyDropOldest discards the oldest batches to make room, counting them dropped.
	PolicyDropOldest = "drop_oldest"
)

// Storage kinds of the sending queue.
const (
	// StorageMemory keeps queued batches in memory: lost on a crash, counted as dropped
	// (reason shutdown) when Shutdown's deadline passes.
	StorageMemory = "memory"
	// StorageDisk keeps them in a durable queue (internal/queue): written through to disk
	// before Consume returns, delivered at least once, kept across restarts.
	StorageDisk = "disk"
)

// QueueConfig is the [...sending_queue] table of a network exporter.
type QueueConfig struct {
	// Enabled queues batches and sends them from NumConsumers workers. Disabled, Consume
	// sends (and retries) on the caller's goroutine and returns the outcome.
	Enabled      bool `toml:"enabled"`
	NumConsumers int  `toml:"num_consumers"`
	// QueueSize bounds the queued items (spans, data points, log records).
	QueueSize int `toml:"queue_size"`
	// MaxBytes bounds the queued request bytes; 0: no byte bound.
	MaxBytes   int64  `toml:"max_bytes"`
	FullPolicy string `toml:"full_policy"`
	// BlockTimeout is how long Consume waits for room under the block policy; 0 refuses at once.
	BlockTimeout time.Duration `toml:"block_timeout"`
	// Storage is StorageMemory (default; "" means the same) or StorageDisk. With disk,
	// QueueSize and MaxBytes do not apply: Disk bounds the queue.
	Storage string `toml:"storage"`
	// Disk is the durable queue of storage = "disk". Its full_policy, when empty, is FullPolicy.
	Disk queue.Config `toml:"disk"`
	// Batch merges queued batches into larger exports.
	Batch BatchConfig `toml:"batch"`
}

// NewDefaultQueueConfig: 4 workers, 100k items or 16 MiB in memory, block up to 5s; the disk
// table holds internal/queue's defaults with full_policy taken from the memory queue's.
func NewDefaultQueueConfig() QueueConfig {
	disk := queue.NewDefaultConfig()
	disk.FullPolicy = ""
	return QueueConfig{
		Enabled: true, NumConsumers: 4, QueueSize: 100_000, MaxBytes: 16 << 20,
		FullPolicy: PolicyBlock, BlockTimeout: 5 * time.Second,
		Storage: StorageMemory, Disk: disk, Batch: NewDefaultBatchConfig(),
	}
}

// Durable reports whether the queue keeps batches on disk.
func (c QueueConfig) Durable() bool { return c.Enabled && c.Storage == StorageDisk }

// diskConfig is Disk with the full policy resolved.
func (c QueueConfig) diskConfig() queue.Config {
	d := c.Disk
	if d.FullPolicy == "" {
		d.FullPolicy = c.FullPolicy
	}
	return d
}

// Validate reports the first invalid key, named relative to the table.
func (c QueueConfig) Validate() error {
	switch {
	case !c.Enabled:
		return nil
	case c.NumConsumers < 1:
		return fmt.Errorf("num_consumers: must be >= 1, got %d", c.NumConsumers)
	case c.QueueSize < 1:
		return fmt.Errorf("queue_size: must be >= 1, got %d", c.QueueSize)
	case c.MaxBytes < 0:
		return fmt.Errorf("max_bytes: must be >= 0, got %d", c.MaxBytes)
	case c.FullPolicy != PolicyBlock && c.FullPolicy != PolicyDropOldest:
		return fmt.Errorf("full_policy: %q is neither %s nor %s", c.FullPolicy, PolicyBlock, PolicyDropOldest)
	case c.BlockTimeout < 0:
		return fmt.Errorf("block_timeout: must be >= 0, got %s", c.BlockTimeout)
	case c.Storage != "" && c.Storage != StorageMemory && c.Storage != StorageDisk:
		return fmt.Errorf("storage: %q is neither %s nor %s", c.Storage, StorageMemory, StorageDisk)
	case c.Storage == StorageDisk && c.Disk.Dir == "":
		return errors.New("disk.dir: required with storage = \"disk\" (one directory per exporter)")
	case c.Storage == StorageDisk:
		if err := c.diskConfig().Validate(); err != nil {
			return fmt.Errorf("disk.%w", err)
		}
	}
	if err := c.Batch.Validate(); err != nil {
		return fmt.Errorf("batch.%w", err)
	}
	return nil
}

// RetryConfig is the [...retry] table: exponential backoff with jitter.
type RetryConfig struct {
	Enabled bool `toml:"enabled"`
	// InitialInterval is the wait after the first failure; each later wait is Multiplier times
	// the previous one, up to MaxInterval, randomized by ±RandomizationFactor.
	InitialInterval     time.Duration `toml:"initial_interval"`
	MaxInterval         time.Duration `toml:"max_interval"`
	Multiplier          float64       `toml:"multiplier"`
	RandomizationFactor float64       `toml:"randomization_factor"`
	// MaxElapsedTime gives up on a batch (counted dropped) this long after its first failure;
	// 0 retries until shutdown. With a disk queue it does not apply unless the queue has a
	// max_age (see Sender).
	MaxElapsedTime time.Duration `toml:"max_elapsed_time"`
	// MaxAttempts also gives up after this many attempts, the first included; 0: no bound.
	// Same rule with a disk queue.
	MaxAttempts int `toml:"max_attempts"`
}

// NewDefaultRetryConfig: 5s growing ×1.5 to 30s, ±50%, for at most 5 minutes.
func NewDefaultRetryConfig() RetryConfig {
	return RetryConfig{
		Enabled: true, InitialInterval: 5 * time.Second, MaxInterval: 30 * time.Second,
		Multiplier: 1.5, RandomizationFactor: 0.5, MaxElapsedTime: 5 * time.Minute,
	}
}

// Validate reports the first invalid key, named relative to the table.
func (c RetryConfig) Validate() error {
	switch {
	case !c.Enabled:
		return nil
	case c.InitialInterval <= 0:
		return fmt.Errorf("initial_interval: must be > 0, got %s", c.InitialInterval)
	case c.MaxInterval < c.InitialInterval:
		return fmt.Errorf("max_interval: must be >= initial_interval (%s), got %s", c.InitialInterval, c.MaxInterval)
	case c.Multiplier < 1 || math.IsInf(c.Multiplier, 0) || math.IsNaN(c.Multiplier):
		return fmt.Errorf("multiplier: must be >= 1, got %v", c.Multiplier)
	case c.RandomizationFactor < 0 || c.RandomizationFactor > 1 || math.IsNaN(c.RandomizationFactor):
		return fmt.Errorf("randomization_factor: must be within [0, 1], got %v", c.RandomizationFactor)
	case c.MaxElapsedTime < 0:
		return fmt.Errorf("max_elapsed_time: must be >= 0, got %s", c.MaxElapsedTime)
	case c.MaxAttempts < 0:
		return fmt.Errorf("max_attempts: must be >= 0, got %d", c.MaxAttempts)
	}
	return nil
}

// Config is everything a Sender needs; network exporters fill it from their own tables.
type Config struct {
	Queue QueueConfig
	Retry RetryConfig
	// Timeout bounds each attempt; 0: no bound.
	Timeout time.Duration
}

// Validate reports the first invalid key: sending_queue.*, retry.* or timeout.
func (c Config) Validate() error {
	if err := c.Queue.Validate(); err != nil {
		return fmt.Errorf("sending_queue.%w", err)
	}
	if err := c.Retry.Validate(); err != nil {
		return fmt.Errorf("retry.%w", err)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("timeout: must be >= 0, got %s", c.Timeout)
	}
	return nil
}
