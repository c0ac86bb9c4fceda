package queue

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := NewDefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := testConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		key    string
		mutate func(*Config)
	}{
		{"max_disk_mib", func(c *Config) { c.MaxDiskMiB = 0 }},
		{"max_disk_mib", func(c *Config) { c.MaxDiskMiB = -1 }},
		{"max_disk_mib", func(c *Config) { c.MaxDiskMiB = 100 }}, // under 2 segments
		{"max_memory_mib", func(c *Config) { c.MaxMemoryMiB = -1 }},
		{"segment_mib", func(c *Config) { c.SegmentMiB = 0 }},
		{"segment_bytes", func(c *Config) { c.SegmentMiB, c.SegmentBytes = 0, 100 }},
		{"full_policy", func(c *Config) { c.FullPolicy = "drop_newest" }},
		{"fsync", func(c *Config) { c.Fsync = "" }},
		{"fsync_interval", func(c *Config) { c.FsyncInterval = 0 }},
		{"fsync_interval", func(c *Config) { c.Fsync, c.FsyncInterval = FsyncAlways, -time.Second }},
		{"max_age", func(c *Config) { c.MaxAge = -time.Second }},
	} {
		c := NewDefaultConfig()
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.key+":") {
			t.Errorf("%+v: Validate() = %v, want an error about %s", c, err, tc.key)
		}
	}
}

// A byte key works alone, although its MiB key has a default: it wins.
func TestConfigByteKeysWin(t *testing.T) {
	c := NewDefaultConfig()
	c.MaxDiskBytes, c.SegmentBytes, c.MaxMemoryBytes = 256<<10, 64<<10, 10
	if err := c.Validate(); err != nil {
		t.Fatalf("byte keys with the MiB defaults in place: %v", err)
	}
	if l := c.limits(); l.maxDisk != 256<<10 || l.segment != 64<<10 || l.maxMemory != 10 {
		t.Fatalf("limits %+v, want the byte keys", l)
	}
}

func TestConfigTOML(t *testing.T) {
	c := NewDefaultConfig()
	if _, err := toml.DecodeFile(filepath.Join("testdata", "queue.toml"), &c); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Dir: "data/queue", MaxDiskMiB: 2048, MaxMemoryMiB: 32, SegmentMiB: 16,
		FullPolicy: FullDropOldest, Fsync: FsyncAlways, FsyncInterval: 500 * time.Millisecond, MaxAge: 24 * time.Hour,
	}
	if c != want {
		t.Fatalf("decoded %+v\nwant    %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if l := c.limits(); l.maxDisk != 2<<30 || l.maxMemory != 32<<20 || l.segment != 16<<20 {
		t.Fatalf("limits %+v", l)
	}
}
