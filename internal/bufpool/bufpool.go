// Package bufpool keeps a bounded stack of byte buffers for reuse: the batch processor's batch
// buffers, the memory queue's copies and the SDK's encoded requests. Unlike sync.Pool it keeps
// its buffers across garbage collections (a megabyte batch buffer dropped at every GC would
// be reallocated, and zeroed, right after) and bounds what it holds.
package bufpool

import "sync"

// FreeList is a bounded LIFO of buffers; the zero value keeps nothing until MaxBuffers is set.
// Safe for concurrent use.
type FreeList struct {
	// MaxBuffers is the most buffers kept.
	MaxBuffers int
	// MaxBytes bounds the capacity kept in total; MaxCap the capacity of one buffer (a buffer
	// grown by a burst is left to the GC). 0: no bound.
	MaxBytes, MaxCap int

	mu    sync.Mutex
	free  [][]byte // guarded by mu
	bytes int      // guarded by mu; capacity held in free
}

// Get returns an empty buffer of capacity at least n, the most recently kept first, or nil
// when none is kept.
func (l *FreeList) Get(n int) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.free) - 1; i >= 0; i-- {
		b := l.free[i]
		if cap(b) < n {
			continue
		}
		copy(l.free[i:], l.free[i+1:])
		l.free[len(l.free)-1] = nil
		l.free = l.free[:len(l.free)-1]
		l.bytes -= cap(b)
		return b[:0]
	}
	return nil
}

// Put keeps b for a later Get unless that would pass a bound.
func (l *FreeList) Put(b []byte) {
	c := cap(b)
	if c == 0 || l.MaxCap > 0 && c > l.MaxCap {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.free) >= l.MaxBuffers || l.MaxBytes > 0 && l.bytes+c > l.MaxBytes {
		return
	}
	l.free = append(l.free, b)
	l.bytes += c
}

// Len is the number of buffers kept.
func (l *FreeList) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.free)
}
