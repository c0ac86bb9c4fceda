package file

import (
	"errors"
	"fmt"
	"time"
)

// Config is an [exporters.file[/name]] section.
type Config struct {
	// Path of the file written: one OTLP/JSON export request per line.
	Path string `toml:"path"`
	// MaxMegabytes rotates the file before it grows past this size; 0: never rotate.
	MaxMegabytes int `toml:"max_megabytes"`
	// MaxBackups is how many rotated files are kept; 0 keeps them all.
	MaxBackups int `toml:"max_backups"`
	// FlushInterval buffers writes and flushes them this often; 0 writes every batch through.
	FlushInterval time.Duration `toml:"flush_interval"`
}

// NewDefaultConfig rotates at 100 MiB keeping 3 backups and writes through.
func NewDefaultConfig() Config { return Config{MaxMegabytes: 100, MaxBackups: 3} }

// Validate reports the first invalid key.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("path: required")
	case c.MaxMegabytes < 0:
		return fmt.Errorf("max_megabytes: must be >= 0, got %d", c.MaxMegabytes)
	case c.MaxBackups < 0:
		return fmt.Errorf("max_backups: must be >= 0, got %d", c.MaxBackups)
	case c.FlushInterval < 0:
		return fmt.Errorf("flush_interval: must be >= 0, got %s", c.FlushInterval)
	}
	return nil
}
