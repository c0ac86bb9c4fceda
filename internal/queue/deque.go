package queue

// deque is a growable ring buffer: O(1) push and pop at both ends without per-element
// allocation.
type deque[T any] struct {
	buf  []T
	head int
	n    int
}

func (d *deque[T]) len() int { return d.n }

func (d *deque[T]) grow() {
	if d.n < len(d.buf) {
		return
	}
	nb := make([]T, max(16, 2*len(d.buf)))
	for i := range d.n {
		nb[i] = d.buf[(d.head+i)%len(d.buf)]
	}
	d.buf, d.head = nb, 0
}

func (d *deque[T]) pushBack(v T) {
	d.grow()
	d.buf[(d.head+d.n)%len(d.buf)] = v
	d.n++
}

func (d *deque[T]) pushFront(v T) {
	d.grow()
	d.head = (d.head - 1 + len(d.buf)) % len(d.buf)
	d.buf[d.head] = v
	d.n++
}

// front returns the first element; the deque must not be empty.
func (d *deque[T]) front() T { return d.buf[d.head] }

// at returns the i-th element from the front.
func (d *deque[T]) at(i int) T { return d.buf[(d.head+i)%len(d.buf)] }

func (d *deque[T]) popFront() (T, bool) {
	var zero T
	if d.n == 0 {
		return zero, false
	}
	v := d.buf[d.head]
	d.buf[d.head] = zero // let the GC have it
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	if d.n == 0 {
		d.head = 0
	}
	// Shrink after a burst so an idle queue does not pin a large ring.
	if len(d.buf) > 1024 && d.n < len(d.buf)/8 {
		nb := make([]T, len(d.buf)/2)
		for i := range d.n {
			nb[i] = d.buf[(d.head+i)%len(d.buf)]
		}
		d.buf, d.head = nb, 0
	}
	return v, true
}
