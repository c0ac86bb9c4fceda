package hostmetrics

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scraper names, as written in Config.Scrapers.
const (
	ScraperCPU        = "cpu"
	ScraperMemory     = "memory"
	ScraperDisk       = "disk"
	ScraperNetwork    = "network"
	ScraperFilesystem = "filesystem"
	ScraperLoad       = "load"
)

// AllScrapers lists every scraper in the order metrics are emitted.
var AllScrapers = []string{ScraperCPU, ScraperMemory, ScraperDisk, ScraperNetwork, ScraperFilesystem, ScraperLoad}

// DefaultCollectionInterval is how often the host is scraped when the file does not say.
const DefaultCollectionInterval = 10 * time.Second

// minInterval keeps a typo ("10ms" for "10s") from turning the agent into a busy loop.
const minInterval = 100 * time.Millisecond

// Config is the [receivers.hostmetrics] section.
type Config struct {
	// CollectionInterval is the time between two scrapes.
	CollectionInterval time.Duration `toml:"collection_interval"`
	// Scrapers selects the metric families; empty means all of them.
	Scrapers []string `toml:"scrapers"`
}

// NewDefaultConfig scrapes everything every 10s.
func NewDefaultConfig() Config {
	return Config{CollectionInterval: DefaultCollectionInterval, Scrapers: slices.Clone(AllScrapers)}
}

// Validate checks the configuration. Each error names its key relative to the receiver
// ("collection_interval: …"); the config package prefixes it with "receivers.<name>.".
func (c Config) Validate() error {
	var errs []error
	if c.CollectionInterval < minInterval {
		errs = append(errs, fmt.Errorf("collection_interval: must be at least %s, got %s", minInterval, c.CollectionInterval))
	}
	seen := map[string]bool{}
	for _, s := range c.Scrapers {
		switch {
		case !slices.Contains(AllScrapers, s):
			errs = append(errs, fmt.Errorf("scrapers: unknown scraper %q (want %s)", s, strings.Join(AllScrapers, ", ")))
		case seen[s]:
			errs = append(errs, fmt.Errorf("scrapers: %q listed twice", s))
		}
		seen[s] = true
	}
	return errors.Join(errs...)
}

// scrapers returns the enabled scraper names in emission order.
func (c Config) scrapers() []string {
	if len(c.Scrapers) == 0 {
		return slices.Clone(AllScrapers)
	}
	var out []string
	for _, s := range AllScrapers {
		if slices.Contains(c.Scrapers, s) {
			out = append(out, s)
		}
	}
	return out
}
