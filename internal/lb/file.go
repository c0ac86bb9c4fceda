package lb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/fsnotify/fsnotify"

	"github.com/otlp-dev/otlp/resilience"
)

// fileDebounce lets a burst of events (truncate, write, chmod) settle before the file is read.
const fileDebounce = 100 * time.Millisecond

// FileResolver reads endpoints from a file (see ParseEndpoints) and watches it for changes.
type FileResolver struct {
	Path string
	// Clock times the debounce of change events (default: the system clock).
	Clock resilience.Clock
}

func (r *FileResolver) Resolve(context.Context) ([]EndpointSpec, error) {
	data, err := os.ReadFile(r.Path)
	if err != nil {
		return nil, fmt.Errorf("lb: endpoints file: %w", err)
	}
	specs, err := ParseEndpoints(data)
	if err != nil {
		return nil, fmt.Errorf("lb: endpoints file %s: %w", r.Path, err)
	}
	return specs, nil
}

// Watch watches the file's directory, so that atomic renames and Kubernetes ConfigMap symlink
// swaps (..data) are seen; run calls changed once events have been quiet for fileDebounce.
func (r *FileResolver) Watch(changed func()) (run func(ctx context.Context), err error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("lb: watch endpoints file: %w", err)
	}
	dir, base := filepath.Split(r.Path)
	if dir == "" {
		dir = "."
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("lb: watch endpoints file: %w", err)
	}
	clock := r.Clock
	if clock == nil {
		clock = resilience.SystemClock{}
	}
	return func(ctx context.Context) {
		defer w.Close()
		var t resilience.Timer
		var fire <-chan time.Time
		defer func() {
			if t != nil {
				t.Stop()
			}
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if name := filepath.Base(ev.Name); name != base && !strings.HasPrefix(name, "..") {
					continue
				}
				if t != nil {
					t.Stop()
				}
				t = clock.NewTimer(fileDebounce)
				fire = t.C()
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				changed() // events may have been lost (queue overflow): reread to be sure
			case <-fire:
				t, fire = nil, nil
				changed()
			}
		}
	}, nil
}

// ParseEndpoints decodes an endpoints file. Two forms are accepted:
//
//	# one endpoint per line, an optional weight after it
//	collector-1:4317
//	collector-2:4317 3
//
// or TOML, recognised by an "=":
//
//	endpoints = ["collector-1:4317", {address = "collector-2:4317", weight = 3}]
func ParseEndpoints(data []byte) ([]EndpointSpec, error) {
	if isTOML(data) {
		return parseTOMLEndpoints(data)
	}
	var specs []EndpointSpec
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) > 2 {
			return nil, fmt.Errorf("line %d: want \"host:port [weight]\", got %d fields", n, len(f))
		}
		s := EndpointSpec{Address: f[0]}
		if len(f) == 2 {
			w, err := strconv.Atoi(f[1])
			if err != nil {
				return nil, fmt.Errorf("line %d: weight %q is not a number", n, f[1])
			}
			s.Weight = w
		}
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		specs = append(specs, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return specs, nil
}

func isTOML(data []byte) bool {
	for line := range bytes.Lines(data) {
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if bytes.IndexByte(line, '=') >= 0 {
			return true
		}
	}
	return false
}

func parseTOMLEndpoints(data []byte) ([]EndpointSpec, error) {
	var f struct {
		Endpoints []EndpointSpec `toml:"endpoints"`
	}
	md, err := toml.Decode(string(data), &f)
	if err != nil {
		return nil, err
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("unknown key %q", und[0].String())
	}
	for i, s := range f.Endpoints {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("endpoints[%d]: %w", i, err)
		}
	}
	return f.Endpoints, nil
}
