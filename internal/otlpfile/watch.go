package otlpfile

import (
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher reports changes of one file. It watches the file's directory, so editors that
// replace the file (write a temporary file, then rename) and Kubernetes ConfigMap symlink swaps
// are seen too. Bursts of events coalesce into one notification.
type Watcher struct {
	w       *fsnotify.Watcher
	changes chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewWatcher starts watching path.
func NewWatcher(path string, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		fw.Close()
		return nil, err
	}
	if err := fw.Add(filepath.Dir(abs)); err != nil {
		fw.Close()
		return nil, err
	}
	w := &Watcher{w: fw, changes: make(chan struct{}, 1), done: make(chan struct{})}
	go w.loop(abs, log)
	return w, nil
}

// Changes receives a value after the file changed (coalesced: one value may stand for many
// writes).
func (w *Watcher) Changes() <-chan struct{} { return w.changes }

// Close stops watching. Idempotent.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		err = w.w.Close()
		<-w.done
	})
	return err
}

func (w *Watcher) loop(abs string, log *slog.Logger) {
	defer close(w.done)
	// Debounce: editors write in several steps; notify once they are quiet for a moment.
	const quiet = 100 * time.Millisecond
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				if timer != nil {
					timer.Stop()
				}
				return
			}
			// The file itself, or a Kubernetes ConfigMap's "..data" symlink swap.
			if filepath.Clean(ev.Name) != abs && filepath.Base(ev.Name) != "..data" {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(quiet)
			} else {
				timer.Reset(quiet)
			}
			fire = timer.C
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			log.Warn("configuration watch error", "error", err)
		case <-fire:
			fire = nil
			select {
			case w.changes <- struct{}{}:
			default:
			}
		}
	}
}
