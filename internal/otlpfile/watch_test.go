package otlpfile

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatcherSeesChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "otlp.toml")
	if err := os.WriteFile(path, []byte("[otlp]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Replace the file the way editors do: write elsewhere, rename over it.
	tmp := filepath.Join(dir, ".otlp.toml.swp")
	if err := os.WriteFile(tmp, []byte("[otlp]\nlog_level = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported")
	}
}
