package queue

import (
	"os"
	"syscall"
)

// syncData forces f's data, and the metadata needed to read it back (its size), to stable
// storage; it skips timestamps, which fsync would also journal.
func syncData(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fdatasync(int(fd)) }); err != nil {
		return err
	}
	return serr
}
