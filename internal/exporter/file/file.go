// Package file writes batches as OTLP/JSON lines, one export request per line: the format the
// OpenTelemetry Collector's otlpjsonfile receiver reads. The file is rotated by size; rotated
// files are named after the file with the rotation time inserted before the extension
// (traces.jsonl → traces-20260102T030405.000000006Z.jsonl), so that names sort by age.
package file

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otlp-dev/otlp/internal/exporter/otlpmsg"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/resilience"
)

// Settings are injected by the server.
type Settings struct {
	Name    string
	Logger  *slog.Logger
	Metrics *selftel.Metrics
	// Now stamps rotated files (default time.Now).
	Now func() time.Time
}

// ErrNotRunning refuses batches before Start and after Shutdown.
var ErrNotRunning = errors.New("file: exporter not running")

const stampLayout = "20060102T150405.000000000Z"

// Exporter appends batches to a file.
type Exporter struct {
	cfg Config
	set Settings
	log *slog.Logger

	mu      sync.Mutex
	f       *os.File      // guarded by mu; nil when not running
	w       *bufio.Writer // guarded by mu; nil when writing through
	size    int64         // guarded by mu; bytes in the current file
	stopped bool          // guarded by mu

	stop chan struct{} // closed by Shutdown to end the flusher
	done chan struct{} // closed when the flusher returned
}

// New validates cfg; Start opens the file.
func New(cfg Config, set Settings) (*Exporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if set.Logger == nil {
		set.Logger = slog.New(slog.DiscardHandler)
	}
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Exporter{cfg: cfg, set: set, log: set.Logger, stop: make(chan struct{}), done: make(chan struct{})}, nil
}

// Start opens (or creates) the file for appending.
func (e *Exporter) Start(context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f != nil || e.stopped {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(e.cfg.Path), 0o755); err != nil {
		return fmt.Errorf("file: path: %w", err)
	}
	if err := e.openLocked(); err != nil {
		return err
	}
	if e.cfg.FlushInterval > 0 {
		go e.flushEvery(e.cfg.FlushInterval)
	} else {
		close(e.done)
	}
	e.log.Info("file exporter started", "path", e.cfg.Path)
	return nil
}

func (e *Exporter) openLocked() error {
	f, err := os.OpenFile(e.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("file: path: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("file: path: %w", err)
	}
	e.f, e.size = f, st.Size()
	if e.cfg.FlushInterval > 0 {
		if e.w == nil {
			e.w = bufio.NewWriterSize(f, 256<<10)
		} else {
			e.w.Reset(f)
		}
	}
	return nil
}

func (e *Exporter) flushEvery(d time.Duration) {
	defer close(e.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.mu.Lock()
			if e.w != nil && e.f != nil {
				if err := e.w.Flush(); err != nil {
					e.log.Error("flush failed", "path", e.cfg.Path, "error", err)
				}
			}
			e.mu.Unlock()
		}
	}
}

// Consume writes b as one JSON line. A body that does not decode is a permanent error,
// counted dropped; a failed write is retryable.
func (e *Exporter) Consume(_ context.Context, b pipeline.Batch) error {
	line, err := otlpmsg.ToJSON(b.Signal, b.Body)
	if err != nil {
		e.set.Metrics.Dropped(b.Signal, selftel.ReasonExportFailed, b.Items)
		return resilience.Permanent(fmt.Errorf("file: %w", err))
	}
	line = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return ErrNotRunning
	}
	if limit := int64(e.cfg.MaxMegabytes) << 20; limit > 0 && e.size > 0 && e.size+int64(len(line)) > limit {
		if err := e.rotateLocked(); err != nil {
			return resilience.SystemError("rotate "+e.cfg.Path, err)
		}
	}
	var n int
	if e.w != nil {
		n, err = e.w.Write(line)
	} else {
		n, err = e.f.Write(line)
	}
	e.size += int64(n)
	if err != nil {
		return resilience.SystemError("write "+e.cfg.Path, err)
	}
	e.set.Metrics.Exported(b.Signal, e.set.Name, b.Items)
	return nil
}

// rotateLocked closes the current file, renames it with a timestamp, opens a fresh one and
// prunes old backups.
func (e *Exporter) rotateLocked() error {
	if err := e.closeLocked(); err != nil {
		return err
	}
	dir, prefix, ext := e.parts()
	name := filepath.Join(dir, prefix+e.set.Now().UTC().Format(stampLayout)+ext)
	for i := 1; exists(name); i++ {
		name = filepath.Join(dir, fmt.Sprintf("%s%s-%d%s", prefix, e.set.Now().UTC().Format(stampLayout), i, ext))
	}
	if err := os.Rename(e.cfg.Path, name); err != nil {
		// Keep writing to the old file rather than losing data.
		if oerr := e.openLocked(); oerr != nil {
			return errors.Join(err, oerr)
		}
		return err
	}
	if err := e.openLocked(); err != nil {
		return err
	}
	e.prune()
	return nil
}

// parts splits the path into directory, rotated-name prefix and extension.
func (e *Exporter) parts() (dir, prefix, ext string) {
	dir, base := filepath.Split(e.cfg.Path)
	ext = filepath.Ext(base)
	return dir, strings.TrimSuffix(base, ext) + "-", ext
}

// Backups lists the rotated files, oldest first.
func (e *Exporter) Backups() ([]string, error) {
	dir, prefix, ext := e.parts()
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ent := range entries {
		n := ent.Name()
		if ent.IsDir() || !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, ext) {
			continue
		}
		stamp := strings.TrimSuffix(strings.TrimPrefix(n, prefix), ext)
		if len(stamp) < len(stampLayout) {
			continue
		}
		if _, err := time.Parse(stampLayout, stamp[:len(stampLayout)]); err != nil {
			continue
		}
		out = append(out, filepath.Join(dir, n))
	}
	slices.Sort(out)
	return out, nil
}

func (e *Exporter) prune() {
	if e.cfg.MaxBackups == 0 {
		return
	}
	backups, err := e.Backups()
	if err != nil {
		e.log.Warn("cannot list rotated files", "error", err)
		return
	}
	for _, old := range backups[:max(len(backups)-e.cfg.MaxBackups, 0)] {
		if err := os.Remove(old); err != nil {
			e.log.Warn("cannot remove rotated file", "file", old, "error", err)
		}
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// closeLocked flushes, syncs and closes the current file.
func (e *Exporter) closeLocked() error {
	if e.f == nil {
		return nil
	}
	var errs []error
	if e.w != nil {
		errs = append(errs, e.w.Flush())
	}
	errs = append(errs, e.f.Sync(), e.f.Close())
	e.f = nil
	return errors.Join(errs...)
}

// Shutdown flushes, fsyncs and closes the file. Idempotent and safe without Start. Every
// write is local, so there is nothing to drain that could outlast a deadline.
func (e *Exporter) Shutdown(context.Context) error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	started := e.f != nil
	e.mu.Unlock()
	if started {
		close(e.stop)
		<-e.done
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.closeLocked(); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	return nil
}
