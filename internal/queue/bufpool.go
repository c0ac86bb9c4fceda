package queue

import (
	"math/bits"
	"sync"
)

// recBuf holds one record (header and payload). It is a pointer type so that pooling it
// does not allocate.
type recBuf struct{ b []byte }

// Size classes: 512 bytes, then four per power of two (5/4, 6/4, 7/4, 8/4 of it), so a
// buffer wastes at most a fifth of its capacity; up to 2 GiB, above the largest record.
const (
	minClassShift = 9
	numClasses    = 1 + (31-minClassShift)*4
)

// classOf returns the class of a buffer of n bytes and the class's capacity.
func classOf(n int) (int, int) {
	if n <= 1<<minClassShift {
		return 0, 1 << minClassShift
	}
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	step := 1 << (k - 2)
	q := (n + step - 1) / step // 5..8
	return 1 + (k-minClassShift)*4 + q - 5, q * step
}

// bufPool recycles record buffers by size class. Without it a queue moving 100 KiB items
// makes a gigabyte of garbage a second and the GC runs every few dozen items. A buffer goes
// back only when nothing else can hold it: its record was settled, or it was evicted from
// memory while not lent to a consumer.
type bufPool struct {
	classes [numClasses]sync.Pool
}

// get returns a buffer of length n; its contents are undefined.
func (p *bufPool) get(n int) *recBuf {
	c, size := classOf(n)
	if c >= numClasses {
		return &recBuf{b: make([]byte, n)}
	}
	if v, ok := p.classes[c].Get().(*recBuf); ok {
		v.b = v.b[:n]
		return v
	}
	return &recBuf{b: make([]byte, n, size)}
}

func (p *bufPool) put(rb *recBuf) {
	if rb == nil {
		return
	}
	c, size := classOf(cap(rb.b))
	if c >= numClasses || size != cap(rb.b) {
		return // not from get
	}
	p.classes[c].Put(rb)
}
