//go:build !(linux || darwin || freebsd || openbsd || netbsd || dragonfly)

package queue

import (
	"fmt"
	"os"
	"path/filepath"
)

const lockFile = "LOCK"

// lockDir only creates the lock file: this platform has no flock, so two processes opening
// one directory are not detected.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("queue: lock: %w", err)
	}
	return f, nil
}

// unlinked reports whether f's file has been deleted while open; this platform cannot tell.
func unlinked(*os.File) bool { return false }
