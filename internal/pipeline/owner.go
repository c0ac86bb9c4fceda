package pipeline

import "sync/atomic"

// Owner lets the one consumer that keeps a batch past Consume (a memory queue) take its Body
// instead of copying it. The producer sets Batch.Owner, and after Consume returns reuses Body
// only when Taken is false; a taker gives the buffer back with Release once it is done.
//
// Saving that copy matters when forwarding: a batch is about a megabyte and the copy was a
// second full-size buffer per exporter queue.
type Owner struct {
	body    []byte
	release func([]byte)
	taken   atomic.Bool
}

// NewOwner offers body; release (may be nil) receives it back from the taker.
func NewOwner(body []byte, release func([]byte)) *Owner {
	return &Owner{body: body, release: release}
}

// Take hands body over to the caller, at most once, and only when body is the very slice
// offered (a stage that rewrote Body passes on an Owner that no longer matches). It is safe
// on a nil Owner.
func (o *Owner) Take(body []byte) bool {
	if o == nil || len(body) == 0 || len(body) != len(o.body) || &body[0] != &o.body[0] {
		return false
	}
	return o.taken.CompareAndSwap(false, true)
}

// Untake gives the body back to the producer when the taker could not keep it after all
// (its Put failed); only the caller whose Take succeeded may call it.
func (o *Owner) Untake() { o.taken.Store(false) }

// Taken reports whether a consumer took the body.
func (o *Owner) Taken() bool { return o != nil && o.taken.Load() }

// Release gives a taken body back to the producer for reuse.
func (o *Owner) Release(body []byte) {
	if o != nil && o.release != nil {
		o.release(body)
	}
}
