package bufpool

import "testing"

func TestFreeListBoundsAndOrder(t *testing.T) {
	l := FreeList{MaxBuffers: 3, MaxBytes: 100, MaxCap: 60}
	a, b, c := make([]byte, 5, 10), make([]byte, 0, 20), make([]byte, 0, 30)
	l.Put(a)
	l.Put(b)
	l.Put(make([]byte, 0, 61)) // over MaxCap
	l.Put(nil)                 // nothing to keep
	l.Put(c)
	l.Put(make([]byte, 0, 50)) // over MaxBytes (10+20+30+50)
	if l.Len() != 3 {
		t.Fatalf("kept %d buffers, want 3", l.Len())
	}
	l.Put(make([]byte, 0, 1)) // over MaxBuffers
	if l.Len() != 3 {
		t.Fatalf("kept %d buffers after a fourth Put, want 3", l.Len())
	}
	// The most recently kept buffer that is large enough comes first, emptied.
	if got := l.Get(15); cap(got) != 30 || len(got) != 0 {
		t.Fatalf("Get(15) = len %d cap %d, want the 30-byte buffer, empty", len(got), cap(got))
	}
	if got := l.Get(15); cap(got) != 20 {
		t.Fatalf("Get(15) = cap %d, want the 20-byte buffer", cap(got))
	}
	if got := l.Get(15); got != nil {
		t.Fatalf("Get(15) = cap %d, want nil: only a 10-byte buffer is left", cap(got))
	}
	if got := l.Get(0); cap(got) != 10 || len(got) != 0 || &got[:1][0] != &a[0] {
		t.Fatal("Get(0) did not return the 10-byte buffer, emptied")
	}
	// Room freed by Get is usable again.
	l.Put(make([]byte, 0, 50))
	l.Put(make([]byte, 0, 50))
	if l.Len() != 2 {
		t.Fatalf("kept %d buffers, want 2 (100 bytes)", l.Len())
	}
	var zero FreeList
	zero.Put(a)
	if zero.Len() != 0 || zero.Get(0) != nil {
		t.Fatal("the zero FreeList keeps nothing")
	}
}
