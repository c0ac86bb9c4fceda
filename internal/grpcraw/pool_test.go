package grpcraw

import "testing"

func TestBufferPoolTiersAndReuse(t *testing.T) {
	p := NewBufferPool()
	for _, c := range []struct{ n, capacity int }{{0, 256}, {100, 256}, {256, 256}, {257, 4 << 10}, {16 << 10, 16 << 10}, {20 << 10, 32 << 10}, {72 << 10, 1 << 20}, {2 << 20, 2 << 20}} {
		b := p.Get(c.n)
		if len(*b) != c.n || cap(*b) != c.capacity {
			t.Errorf("Get(%d): len %d cap %d, want len %d cap %d", c.n, len(*b), cap(*b), c.n, c.capacity)
		}
		p.Put(b)
	}
	// A recycled buffer comes back with the asked length, whatever its previous one.
	b := p.Get(10)
	(*b)[0] = 'x'
	p.Put(b)
	for range 100 { // sync.Pool may drop items; one of these Gets normally returns it
		c := p.Get(200)
		if len(*c) != 200 || cap(*c) != 256 {
			t.Fatalf("Get(200) after Put: len %d cap %d", len(*c), cap(*c))
		}
		p.Put(c)
	}
	// Foreign capacities are not pooled (they would land in the wrong tier).
	odd := make([]byte, 10, 300)
	p.Put(&odd)
	if got := p.Get(290); cap(*got) != 4<<10 {
		t.Errorf("Get(290) = cap %d, want the 4 KiB tier (a 300-byte buffer must not be pooled)", cap(*got))
	}
}
