//go:build !linux

package queue

import "os"

// syncData forces f to stable storage.
func syncData(f *os.File) error { return f.Sync() }
