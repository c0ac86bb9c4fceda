package queue

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

// Full policies: what Put does when the disk bound is reached.
const (
	// FullBlock makes Put wait for space until its context ends (backpressure to the sender).
	FullBlock = "block"
	// FullDropOldest drops the oldest records that are not being delivered, counted.
	FullDropOldest = "drop_oldest"
)

// Fsync policies: when written records are forced to stable storage.
const (
	FsyncAlways   = "always"   // before Put returns (group commit across concurrent Puts)
	FsyncInterval = "interval" // every fsync_interval in the background
	FsyncNever    = "never"    // left to the kernel (still survives a process crash)
)

const mib = 1 << 20

// Config is a durable queue as users write it (a [*.queue] section).
//
// Sizes are in MiB; each has a *_bytes twin for small queues and tests. Set one of the two.
type Config struct {
	// Dir holds the queue's files. Callers that run several queues give each a sub-directory.
	Dir string `toml:"dir"`
	// MaxDiskMiB bounds the bytes of segment files on disk.
	MaxDiskMiB   int64 `toml:"max_disk_mib"`
	MaxDiskBytes int64 `toml:"max_disk_bytes"`
	// MaxMemoryMiB bounds the bytes of recent records also kept in memory, so that a consumer
	// that keeps up never reads back from disk.
	MaxMemoryMiB   int64 `toml:"max_memory_mib"`
	MaxMemoryBytes int64 `toml:"max_memory_bytes"`
	// SegmentMiB is the size at which a new segment file is started. A segment is deleted when
	// all its records are settled, so smaller segments free space sooner.
	SegmentMiB   int64 `toml:"segment_mib"`
	SegmentBytes int64 `toml:"segment_bytes"`
	// FullPolicy is "block" (default) or "drop_oldest".
	FullPolicy string `toml:"full_policy"`
	// Fsync is "always", "interval" (default) or "never"; see docs/queue-format.md.
	Fsync string `toml:"fsync"`
	// FsyncInterval is the period of fsync = "interval".
	FsyncInterval time.Duration `toml:"fsync_interval"`
	// MaxAge, when > 0, drops (counted) records older than this when they are read. 0: records
	// are kept until delivered, however long that takes.
	MaxAge time.Duration `toml:"max_age"`
}

// NewDefaultConfig returns the defaults: 1 GiB on disk, 64 MiB in memory, 64 MiB segments,
// block when full, fsync every second, no max age.
func NewDefaultConfig() Config {
	return Config{
		MaxDiskMiB:    1024,
		MaxMemoryMiB:  64,
		SegmentMiB:    64,
		FullPolicy:    FullBlock,
		Fsync:         FsyncInterval,
		FsyncInterval: time.Second,
	}
}

// Validate reports the first invalid key.
func (c Config) Validate() error {
	if err := c.validateSizes(); err != nil {
		return err
	}
	switch {
	case c.FullPolicy != FullBlock && c.FullPolicy != FullDropOldest:
		return fmt.Errorf("full_policy: must be %q or %q, got %q", FullBlock, FullDropOldest, c.FullPolicy)
	case c.Fsync != FsyncAlways && c.Fsync != FsyncInterval && c.Fsync != FsyncNever:
		return fmt.Errorf("fsync: must be %q, %q or %q, got %q", FsyncAlways, FsyncInterval, FsyncNever, c.Fsync)
	case c.Fsync == FsyncInterval && c.FsyncInterval <= 0:
		return fmt.Errorf("fsync_interval: must be > 0 with fsync = %q, got %s", FsyncInterval, c.FsyncInterval)
	case c.FsyncInterval < 0:
		return fmt.Errorf("fsync_interval: must be >= 0, got %s", c.FsyncInterval)
	case c.MaxAge < 0:
		return fmt.Errorf("max_age: must be >= 0, got %s", c.MaxAge)
	}
	return nil
}

func (c Config) validateSizes() error {
	pairs := []struct {
		mibKey, bytesKey string
		mib, bytes       int64
		zeroOK           bool
	}{
		{"max_disk_mib", "max_disk_bytes", c.MaxDiskMiB, c.MaxDiskBytes, false},
		{"max_memory_mib", "max_memory_bytes", c.MaxMemoryMiB, c.MaxMemoryBytes, true},
		{"segment_mib", "segment_bytes", c.SegmentMiB, c.SegmentBytes, false},
	}
	for _, p := range pairs {
		switch {
		case p.mib < 0:
			return fmt.Errorf("%s: must be >= 0, got %d", p.mibKey, p.mib)
		case p.bytes < 0:
			return fmt.Errorf("%s: must be >= 0, got %d", p.bytesKey, p.bytes)
		case p.mib > 1<<30:
			return fmt.Errorf("%s: too large, got %d", p.mibKey, p.mib)
		case !p.zeroOK && p.mib == 0 && p.bytes == 0:
			return fmt.Errorf("%s: must be > 0", p.mibKey)
		}
	}
	l := c.limits()
	switch {
	case l.segment < 4096:
		return fmt.Errorf("segment_bytes: must be at least 4096, got %d", l.segment)
	case l.maxDisk < 2*l.segment:
		// One segment is written while an older one drains; with less, a single unsettled record
		// could pin all the space.
		return fmt.Errorf("max_disk_mib: must be at least twice the segment size (%d bytes), got %d bytes", l.segment, l.maxDisk)
	}
	return nil
}

// limits are the resolved byte sizes: a *_bytes key wins over its *_mib key, so that setting
// only the byte key works although the MiB key has a default.
type limits struct {
	maxDisk, maxMemory, segment int64
}

func (c Config) limits() limits {
	pick := func(m, b int64) int64 {
		if b > 0 {
			return b
		}
		return m * mib
	}
	return limits{
		maxDisk:   pick(c.MaxDiskMiB, c.MaxDiskBytes),
		maxMemory: pick(c.MaxMemoryMiB, c.MaxMemoryBytes),
		segment:   pick(c.SegmentMiB, c.SegmentBytes),
	}
}

// Settings are injected by code, not written by users.
type Settings struct {
	// Logger receives corruption reports and I/O errors. Nil discards.
	Logger *slog.Logger
	// Now is the clock used for enqueue times and max_age. Nil means time.Now.
	Now func() time.Time
	// OnDrop, when set, is called for every record the queue drops (full policy, max age,
	// corruption found when reading), outside the queue's locks, from the goroutine that
	// dropped it. Exporters count the items with it.
	OnDrop func(Drop)
}

// Drop describes one dropped record.
type Drop struct {
	Reason string // DropQueueFull, DropMaxAge or DropCorrupt
	Signal pipeline.Signal
	Items  int // spans, metric points or log records lost
	Bytes  int // payload bytes lost
}

// Drop reasons; the first two match the selftel reasons.
const (
	DropQueueFull = "queue_full"
	DropMaxAge    = "max_age"
	DropCorrupt   = "corrupt"
)
