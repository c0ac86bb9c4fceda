package grpcraw

import (
	"sync"

	"google.golang.org/grpc/mem"
)

// BufferPool is a mem.BufferPool for gRPC's transport that hands out recycled buffers without
// zeroing them. gRPC's default pool clears every recycled buffer it hands out, in case a reader
// looks past what was written; the transport reads exactly the requested length into each
// buffer (HTTP/2 frame payloads), and Codec copies exactly data.Len() bytes out, so the clearing
// is pure cost: about 4% of the server's CPU under load (grpc-go#8790 measures the same).
// Tiers match gRPC's defaults: 256 B, 4 KiB, 16 KiB (one HTTP/2 frame), 32 KiB, 1 MiB.
type BufferPool struct {
	tiers [5]tier
}

type tier struct {
	size int
	pool sync.Pool
}

var _ mem.BufferPool = (*BufferPool)(nil)

// NewBufferPool returns an empty pool.
func NewBufferPool() *BufferPool {
	p := &BufferPool{}
	for i, size := range [...]int{256, 4 << 10, 16 << 10, 32 << 10, 1 << 20} {
		p.tiers[i].size = size
	}
	return p
}

// Get returns a buffer of length n; its contents are unspecified.
func (p *BufferPool) Get(n int) *[]byte {
	for i := range p.tiers {
		t := &p.tiers[i]
		if n > t.size {
			continue
		}
		if b, ok := t.pool.Get().(*[]byte); ok {
			*b = (*b)[:n]
			return b
		}
		b := make([]byte, n, t.size)
		return &b
	}
	b := make([]byte, n) // larger than every tier: not pooled
	return &b
}

// Put recycles a buffer that Get returned.
func (p *BufferPool) Put(b *[]byte) {
	c := cap(*b)
	for i := range p.tiers {
		if c == p.tiers[i].size {
			p.tiers[i].pool.Put(b)
			return
		}
	}
}
