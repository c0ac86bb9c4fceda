package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/resilience"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir) // never returns
	}
	goleak.VerifyTestMain(m)
}

// testConfig is a small queue: 4 KiB segments, 1 MiB on disk, 64 KiB in memory, no fsync.
func testConfig() Config {
	c := NewDefaultConfig()
	c.MaxDiskMiB, c.MaxMemoryMiB, c.SegmentMiB = 0, 0, 0
	c.MaxDiskBytes, c.MaxMemoryBytes, c.SegmentBytes = 1<<20, 64<<10, 4096
	c.Fsync = FsyncNever
	return c
}

func openT(t testing.TB, dir string, cfg Config, set Settings) *Queue {
	t.Helper()
	if set.Logger == nil {
		set.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	q, err := Open(dir, cfg, set)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return q
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// payload returns a distinct body for item i.
func payload(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*7 + j)
	}
	if size >= 4 {
		le.PutUint32(b, uint32(i))
	}
	return b
}

func batch(i, size int) pipeline.Batch {
	return pipeline.Batch{Signal: pipeline.Signals[i%3], Body: payload(i, size), Items: i + 1}
}

func mustPut(t testing.TB, q *Queue, b pipeline.Batch) {
	t.Helper()
	if err := q.Put(context.Background(), b); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func mustGet(t testing.TB, q *Queue) Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a safety net only
	defer cancel()
	d, err := q.Get(ctx)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return d
}

// poll returns a delivery if one is ready now.
func poll(q *Queue) (Delivery, bool) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := q.Get(ctx)
	return d, err == nil
}

// drainIDs acks everything ready and returns the first 4 bytes of each body (the item number).
func drainIDs(t testing.TB, q *Queue) []int {
	t.Helper()
	var got []int
	for {
		d, ok := poll(q)
		if !ok {
			return got
		}
		got = append(got, int(le.Uint32(d.Body)))
		if err := d.Ack(); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	for _, fsync := range []string{FsyncAlways, FsyncInterval, FsyncNever} {
		t.Run(fsync, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.Fsync = fsync
			q := openT(t, dir, cfg, Settings{})
			sizes := []int{0, 1, 4, 100, 1000, 5000} // 5000 > segment: a segment of its own
			for i, n := range sizes {
				mustPut(t, q, batch(i, n))
			}
			st := q.Stats()
			if st.Records != len(sizes) || st.Items != 1+2+3+4+5+6 {
				t.Fatalf("stats = %+v", st)
			}
			for i, n := range sizes {
				d := mustGet(t, q)
				want := batch(i, n)
				if d.Signal != want.Signal || d.Items != want.Items || !bytes.Equal(d.Body, want.Body) {
					t.Fatalf("item %d: got signal %v items %d len %d", i, d.Signal, d.Items, len(d.Body))
				}
				if err := d.Ack(); err != nil {
					t.Fatal(err)
				}
			}
			st = q.Stats()
			if st.Records != 0 || st.Items != 0 || st.InFlight != 0 || st.MemoryBytes != 0 || st.DiskReads != 0 {
				t.Fatalf("after drain: %+v", st)
			}
			if fsync == FsyncAlways && st.Syncs < int64(len(sizes)) {
				t.Errorf("fsync always: %d syncs for %d puts", st.Syncs, len(sizes))
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			q = openT(t, dir, cfg, Settings{})
			defer q.Close()
			if st := q.Stats(); st.Records != 0 || st.Segments != 1 {
				t.Fatalf("after reopen: %+v", st)
			}
			if _, ok := poll(q); ok {
				t.Fatal("acked item delivered again")
			}
		})
	}
}

func TestRestartRedeliversUnacked(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	q := openT(t, dir, cfg, Settings{})
	for i := range 30 {
		mustPut(t, q, batch(i, 300)) // several segments
	}
	var held []Delivery
	for i := range 10 {
		d := mustGet(t, q)
		if int(le.Uint32(d.Body)) != i {
			t.Fatalf("got item %d, want %d", le.Uint32(d.Body), i)
		}
		held = append(held, d)
	}
	// Out of order: ack odd ones backwards, leave even ones in flight.
	for i := 9; i >= 0; i-- {
		if i%2 == 1 {
			if err := held[i].Ack(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := held[0].Ack(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ack after Close = %v, want ErrClosed", err)
	}

	q = openT(t, dir, cfg, Settings{})
	defer q.Close()
	want := []int{0, 2, 4, 6, 8}
	want = append(want, seq(10, 30)...)
	if st := q.Stats(); st.Records != len(want) {
		t.Fatalf("records after restart = %d, want %d", st.Records, len(want))
	}
	if got := drainIDs(t, q); !slices.Equal(got, want) {
		t.Fatalf("after restart got %v, want %v", got, want)
	}
}

func TestNackRedeliversFirst(t *testing.T) {
	q := openT(t, t.TempDir(), testConfig(), Settings{})
	defer q.Close()
	for i := range 3 {
		mustPut(t, q, batch(i, 10))
	}
	d0 := mustGet(t, q)
	d1 := mustGet(t, q)
	if err := d1.Nack(); err != nil {
		t.Fatal(err)
	}
	if err := d1.Ack(); !errors.Is(err, ErrNotInFlight) {
		t.Fatalf("Ack after Nack = %v, want ErrNotInFlight", err)
	}
	again := mustGet(t, q)
	if again.ID != d1.ID {
		t.Fatalf("redelivered %d, want %d", again.ID, d1.ID)
	}
	if err := d1.Ack(); !errors.Is(err, ErrNotInFlight) {
		t.Fatalf("stale Ack of a redelivered record = %v, want ErrNotInFlight", err)
	}
	for _, d := range []Delivery{d0, again} {
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
		if err := d.Ack(); !errors.Is(err, ErrNotInFlight) {
			t.Fatalf("second Ack = %v, want ErrNotInFlight", err)
		}
	}
	if err := (Delivery{}).Ack(); !errors.Is(err, ErrNotInFlight) {
		t.Fatalf("zero Delivery Ack = %v", err)
	}
	if got := drainIDs(t, q); !slices.Equal(got, []int{2}) {
		t.Fatalf("rest = %v", got)
	}
}

// snapshotDir copies the queue files as they are now, as a kill -9 would leave them (the page
// cache holds every completed write).
func snapshotDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == lockFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestOutOfOrderAcksSurviveCrash(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	q := openT(t, dir, cfg, Settings{})
	defer q.Close()
	const n = 60
	for i := range n {
		mustPut(t, q, batch(i, 200))
	}
	var ds []Delivery
	for range n {
		ds = append(ds, mustGet(t, q))
	}
	// Ack all but every 7th, in a scrambled order.
	acked := map[int]bool{}
	for k := range n {
		i := (k * 37) % n
		if i%7 == 3 {
			continue
		}
		if err := ds[i].Ack(); err != nil {
			t.Fatal(err)
		}
		acked[i] = true
	}
	if st := q.Stats(); st.Segments >= 5 {
		t.Errorf("fully acked segments not deleted: %d segments", st.Segments)
	}

	crashed := snapshotDir(t, dir) // no Close: the ack log has no final checkpoint
	q2 := openT(t, crashed, cfg, Settings{})
	defer q2.Close()
	var want []int
	for i := range n {
		if !acked[i] {
			want = append(want, i)
		}
	}
	if got := drainIDs(t, q2); !slices.Equal(got, want) {
		t.Fatalf("after crash got %v, want %v", got, want)
	}
}

func TestSegmentsDeletedWhenSettled(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	q := openT(t, dir, cfg, Settings{})
	defer q.Close()
	for i := range 40 {
		mustPut(t, q, batch(i, 500))
	}
	if st := q.Stats(); st.Segments < 5 {
		t.Fatalf("want several segments, got %d", st.Segments)
	}
	drainIDs(t, q)
	st := q.Stats()
	if st.Segments != 1 {
		t.Fatalf("segments after drain = %d, want 1 (the active one)", st.Segments)
	}
	seqs, err := listSegments(dir)
	if err != nil || len(seqs) != 1 {
		t.Fatalf("segment files after drain: %v %v", seqs, err)
	}
	if got := queueFileBytes(t, dir); got != st.DiskBytes {
		t.Fatalf("disk bytes %d, files %d", st.DiskBytes, got)
	}
}

// queueFileBytes sums the sizes of the segment and spare files in dir.
func queueFileBytes(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), segSuffix) || strings.HasSuffix(e.Name(), spareSuffix) {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			n += fi.Size()
		}
	}
	return n
}

func TestMemoryFirst(t *testing.T) {
	for _, tc := range []struct {
		name      string
		memory    int64
		wantReads int64
	}{
		{"consumer keeps up", 64 << 10, 0},
		{"no memory budget", 0, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxMemoryBytes = tc.memory
			q := openT(t, t.TempDir(), cfg, Settings{})
			defer q.Close()
			for i := range 20 {
				mustPut(t, q, batch(i, 100))
				d := mustGet(t, q)
				if !bytes.Equal(d.Body, payload(i, 100)) {
					t.Fatalf("item %d body differs", i)
				}
				if err := d.Ack(); err != nil {
					t.Fatal(err)
				}
			}
			if st := q.Stats(); st.DiskReads != tc.wantReads || st.MemoryBytes != 0 {
				t.Fatalf("disk reads %d (want %d), memory %d", st.DiskReads, tc.wantReads, st.MemoryBytes)
			}
		})
	}
}

func TestMemoryBound(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMemoryBytes = 10 * 512 // a record of 140 bytes takes a 512-byte buffer
	q := openT(t, t.TempDir(), cfg, Settings{})
	defer q.Close()
	for i := range 50 {
		mustPut(t, q, batch(i, 100))
		if st := q.Stats(); st.MemoryBytes > cfg.MaxMemoryBytes {
			t.Fatalf("memory %d over the bound %d", st.MemoryBytes, cfg.MaxMemoryBytes)
		}
	}
	if got := drainIDs(t, q); !slices.Equal(got, seq(0, 50)) {
		t.Fatalf("got %v", got)
	}
	if st := q.Stats(); st.DiskReads != 40 {
		t.Fatalf("disk reads = %d, want 40 (the 10 newest served from memory)", st.DiskReads)
	}
}

func TestBlockPolicyPushesBack(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDiskBytes = 3 * 4096
	q := openT(t, t.TempDir(), cfg, Settings{})
	defer q.Close()

	// Fill until a Put with a done context is refused.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	var n int
	var err error
	for n = 0; n < 100; n++ {
		if err = q.Put(done, batch(n, 900)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Put on a full queue = %v, want ErrFull", err)
	}
	if d, ok := resilience.RetryAfter(err); !ok || d != FullRetryDelay {
		t.Fatalf("full error is not Throttled(%s): %v", FullRetryDelay, err)
	}
	if resilience.IsPermanent(err) {
		t.Fatal("full error must be retryable")
	}
	if st := q.Stats(); st.DiskBytes > cfg.MaxDiskBytes || st.Records != n {
		t.Fatalf("stats %+v, want %d records within %d bytes", st, n, cfg.MaxDiskBytes)
	}

	// A blocked Put proceeds once a consumer frees a whole segment (4 records of 940 bytes).
	putErr := make(chan error, 1)
	go func() { putErr <- q.Put(context.Background(), batch(n, 900)) }()
	for i := range 4 {
		select {
		case err := <-putErr:
			t.Fatalf("Put passed (%v) after %d acks, before a segment was freed", err, i)
		default:
		}
		if err := mustGet(t, q).Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-putErr; err != nil {
		t.Fatal(err)
	}
	if got := drainIDs(t, q); !slices.Equal(got, seq(4, n+1)) {
		t.Fatalf("after the blocked Put: %v", got)
	}
}

func TestBlockedPutEndsOnClose(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDiskBytes = 2 * 4096
	q := openT(t, t.TempDir(), cfg, Settings{})
	for i := range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := q.Put(ctx, batch(i, 900)); err != nil {
			break
		}
	}
	errs := make(chan error, 2)
	go func() { errs <- q.Put(context.Background(), batch(0, 900)) }()
	go func() { errs <- q.Put(context.Background(), batch(1, 900)) }() // waits for the slot
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Put after Close = %v, want ErrClosed", err)
		}
	}
}

// dropCounter counts what OnDrop reports, checking each drop with check (may be nil).
type dropCounter struct {
	mu     sync.Mutex
	counts Counts
	check  func(Drop)
}

func (c *dropCounter) onDrop(d Drop) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.check != nil {
		c.check(d)
	}
	c.counts.Records++
	c.counts.Items += int64(d.Items)
}

func (c *dropCounter) get() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts
}

func TestDropOldest(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDiskBytes = 3 * 4096
	cfg.FullPolicy = FullDropOldest
	cb := &dropCounter{check: func(d Drop) {
		if d.Reason != DropQueueFull || d.Bytes != 900 {
			t.Errorf("drop %+v", d)
		}
	}}
	dir := t.TempDir()
	q := openT(t, dir, cfg, Settings{OnDrop: cb.onDrop})
	defer q.Close()
	const n = 50
	var wantItems int64
	for i := range n {
		mustPut(t, q, batch(i, 900)) // never blocks
		if st := q.Stats(); st.DiskBytes > cfg.MaxDiskBytes || queueFileBytes(t, dir) != st.DiskBytes {
			t.Fatalf("disk %d (files %d), bound %d", st.DiskBytes, queueFileBytes(t, dir), cfg.MaxDiskBytes)
		}
	}
	st := q.Stats()
	dropped := st.Dropped[DropQueueFull]
	if dropped.Records == 0 || int(dropped.Records)+st.Records != n {
		t.Fatalf("dropped %+v + queued %d != %d", dropped, st.Records, n)
	}
	for i := range int(dropped.Records) {
		wantItems += int64(i + 1)
	}
	if dropped.Items != wantItems {
		t.Fatalf("dropped items %d, want %d", dropped.Items, wantItems)
	}
	if got := cb.get(); got != dropped {
		t.Fatalf("OnDrop saw %+v, stats say %+v", got, dropped)
	}
	if got := drainIDs(t, q); !slices.Equal(got, seq(int(dropped.Records), n)) {
		t.Fatalf("kept %v, want the newest", got)
	}
}

func TestDropOldestSparesInFlight(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDiskBytes = 3 * 4096
	cfg.FullPolicy = FullDropOldest
	q := openT(t, t.TempDir(), cfg, Settings{})
	defer q.Close()
	mustPut(t, q, batch(0, 900))
	first := mustGet(t, q)
	for i := 1; i < 30; i++ {
		mustPut(t, q, batch(i, 900))
	}
	if err := first.Ack(); err != nil {
		t.Fatalf("the in-flight record was dropped: %v", err)
	}
	if st := q.Stats(); st.Dropped[DropQueueFull].Records == 0 {
		t.Fatal("nothing dropped")
	}
}

// With drop_oldest, records being delivered cannot make a Put wait: when only they hold the
// space, the oldest are taken off disk; an Ack still delivers them, a Nack or a Close counts
// them dropped, and a restart does not deliver them again.
func TestDropOldestTakesInFlightOffDisk(t *testing.T) {
	for _, memory := range []int64{64 << 10, 1} { // bodies kept in memory, or read back from disk
		t.Run(fmt.Sprintf("max_memory_bytes=%d", memory), func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxDiskBytes = 3 * 4096
			cfg.MaxMemoryBytes = memory
			cfg.FullPolicy = FullDropOldest
			var cb dropCounter
			dir := t.TempDir()
			q := openT(t, dir, cfg, Settings{OnDrop: cb.onDrop})
			const inFlight = 10
			for i := range inFlight {
				mustPut(t, q, batch(i, 900))
			}
			var held []Delivery
			for range inFlight {
				held = append(held, mustGet(t, q))
			}
			// A done context: a Put that would wait fails at once.
			done, cancel := context.WithCancel(context.Background())
			cancel()
			for i := inFlight; i < inFlight+20; i++ {
				if err := q.Put(done, batch(i, 900)); err != nil {
					t.Fatalf("Put %d with every older record in flight: %v", i, err)
				}
				if st := q.Stats(); st.DiskBytes > cfg.MaxDiskBytes {
					t.Fatalf("disk %d, bound %d", st.DiskBytes, cfg.MaxDiskBytes)
				}
			}
			for i, d := range held {
				if got := int(le.Uint32(d.Body)); got != i || !bytes.Equal(d.Body, payload(i, 900)) {
					t.Fatalf("in-flight delivery %d changed under its consumer (reads %d)", i, got)
				}
			}
			// Half of them delivered, two given back, the rest still out when the queue closes.
			for _, d := range held[:5] {
				if err := d.Ack(); err != nil {
					t.Fatalf("Ack of a record taken off disk: %v", err)
				}
			}
			for _, d := range held[5:7] {
				if err := d.Nack(); err != nil {
					t.Fatalf("Nack: %v", err)
				}
			}
			st := q.Stats()
			if st.InFlight != 3 {
				t.Fatalf("in flight %d, want 3", st.InFlight)
			}
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			got := cb.get()
			q = openT(t, dir, cfg, Settings{})
			defer q.Close()
			kept := drainIDs(t, q)
			if len(kept) == 0 || slices.ContainsFunc(kept, func(id int) bool { return id < inFlight }) {
				t.Fatalf("after a restart delivered %v: a record taken off disk came back, or nothing was kept", kept)
			}
			// Every record is accounted for once: delivered (5), kept, or counted dropped.
			var wantItems int64
			for i := range inFlight + 20 {
				if i >= 5 && !slices.Contains(kept, i) {
					wantItems += int64(i + 1)
				}
			}
			if int(got.Records)+5+len(kept) != inFlight+20 || got.Items != wantItems {
				t.Fatalf("dropped %+v, delivered 5, kept %d of %d; want dropped items %d", got, len(kept), inFlight+20, wantItems)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	cfg := testConfig()
	cfg.MaxAge = time.Minute
	var drops []Drop
	q := openT(t, t.TempDir(), cfg, Settings{Now: clock, OnDrop: func(d Drop) { drops = append(drops, d) }})
	defer q.Close()
	mustPut(t, q, batch(0, 10))
	mustPut(t, q, batch(1, 10))
	advance(45 * time.Second)
	mustPut(t, q, batch(2, 10))
	if st := q.Stats(); st.OldestAge != 45*time.Second {
		t.Fatalf("oldest age = %s", st.OldestAge)
	}
	advance(30 * time.Second) // items 0 and 1 are 75s old, item 2 is 30s old
	if got := drainIDs(t, q); !slices.Equal(got, []int{2}) {
		t.Fatalf("got %v, want only the young item", got)
	}
	st := q.Stats()
	if c := st.Dropped[DropMaxAge]; c.Records != 2 || c.Items != 3 {
		t.Fatalf("dropped %+v", c)
	}
	if len(drops) != 2 || drops[0].Reason != DropMaxAge {
		t.Fatalf("OnDrop got %+v", drops)
	}
}

func TestNoMaxAgeKeepsForever(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	cfg := testConfig()
	q := openT(t, t.TempDir(), cfg, Settings{Now: func() time.Time { return now }})
	defer q.Close()
	mustPut(t, q, batch(0, 10))
	now = now.Add(365 * 24 * time.Hour)
	if got := drainIDs(t, q); !slices.Equal(got, []int{0}) {
		t.Fatalf("got %v", got)
	}
}

func TestTooLarge(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDiskBytes = 2 * 4096
	q := openT(t, t.TempDir(), cfg, Settings{})
	defer q.Close()
	err := q.Put(context.Background(), pipeline.Batch{Signal: pipeline.SignalLogs, Body: make([]byte, 8192)})
	if !errors.Is(err, ErrTooLarge) || !resilience.IsPermanent(err) {
		t.Fatalf("Put too large = %v", err)
	}
	// The largest item that fits goes through, in a segment of its own.
	mustPut(t, q, pipeline.Batch{Body: make([]byte, q.maxItem)})
	d := mustGet(t, q)
	if len(d.Body) != q.maxItem {
		t.Fatal("short body")
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	mustPut(t, q, batch(1, 100))
}

func TestClose(t *testing.T) {
	q := openT(t, t.TempDir(), testConfig(), Settings{})
	got := make(chan error, 1)
	go func() {
		_, err := q.Get(context.Background())
		got <- err
	}()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Get after Close = %v", err)
	}
	if err := q.Put(context.Background(), batch(0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	if _, err := q.Get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close = %v", err)
	}
	if err := q.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestGetHonoursContext(t *testing.T) {
	q := openT(t, t.TempDir(), testConfig(), Settings{})
	defer q.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := q.Get(ctx)
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v, want context.Canceled", err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	q := openT(t, dir, testConfig(), Settings{})
	if _, err := Open(dir, testConfig(), Settings{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = openT(t, dir, testConfig(), Settings{})
	q.Close()
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("", testConfig(), Settings{}); err == nil || !strings.Contains(err.Error(), "dir") {
		t.Fatalf("Open without dir = %v", err)
	}
	cfg := testConfig()
	cfg.Dir = t.TempDir()
	q, err := Open("", cfg, Settings{})
	if err != nil {
		t.Fatalf("Open with cfg.Dir: %v", err)
	}
	if q.Dir() != cfg.Dir {
		t.Fatalf("Dir = %q", q.Dir())
	}
	q.Close()
	cfg.Fsync = "sometimes"
	if _, err := Open(t.TempDir(), cfg, Settings{}); err == nil || !strings.Contains(err.Error(), "fsync") {
		t.Fatalf("Open with a bad config = %v", err)
	}
}

// TestConcurrent runs producers and consumers (acking, nacking) against a small queue that
// rotates, deletes segments and reads back from disk, then checks every item was delivered.
func TestConcurrent(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMemoryBytes = 8 << 10
	cfg.MaxDiskBytes = 16 * 4096
	cfg.Fsync = FsyncAlways
	dir := t.TempDir()
	q := openT(t, dir, cfg, Settings{})
	defer q.Close()
	const producers, perProducer, consumers = 4, 150, 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				n := p*perProducer + i
				if err := q.Put(ctx, batch(n, 50+n%700)); err != nil {
					t.Errorf("Put %d: %v", n, err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := make(map[int]int)
	acked := 0
	allAcked := make(chan struct{})
	for c := range consumers {
		wg.Go(func() {
			for k := 0; ; k++ {
				d, err := q.Get(ctx)
				if err != nil {
					return // ctx cancelled once everything is acked
				}
				n := int(le.Uint32(d.Body))
				if !bytes.Equal(d.Body, payload(n, 50+n%700)) || d.Items != n+1 {
					t.Errorf("item %d: body or items differ", n)
				}
				if (k+c)%9 == 0 {
					if err := d.Nack(); err != nil {
						t.Error(err)
					}
					continue
				}
				if err := d.Ack(); err != nil {
					t.Error(err)
				}
				mu.Lock()
				seen[n]++
				acked++
				if acked == producers*perProducer {
					close(allAcked)
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-allAcked:
	case <-ctx.Done():
		t.Error("timed out before every item was acked")
	}
	cancel()
	wg.Wait()
	for n := range producers * perProducer {
		if seen[n] != 1 {
			t.Fatalf("item %d acked %d times", n, seen[n])
		}
	}
	st := q.Stats()
	if st.Records != 0 || st.InFlight != 0 || st.Segments != 1 || st.MemoryBytes != 0 {
		t.Fatalf("final stats %+v", st)
	}
	if got := queueFileBytes(t, dir); got != st.DiskBytes {
		t.Fatalf("files take %d bytes, stats say %d", got, st.DiskBytes)
	}
	if st.Syncs >= producers*perProducer {
		t.Logf("no group commit happened: %d syncs for %d puts", st.Syncs, producers*perProducer)
	}
	t.Logf("syncs %d, writes %d, disk reads %d for %d puts", st.Syncs, st.Writes, st.DiskReads, producers*perProducer)
}

// TestLentBodyStable checks that buffer reuse never changes a body a consumer still holds:
// its record is evicted from memory and others are put, settled and recycled meanwhile.
func TestLentBodyStable(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMemoryBytes = 2048
	q := openT(t, t.TempDir(), cfg, Settings{})
	defer q.Close()
	mustPut(t, q, batch(0, 400))
	held := mustGet(t, q) // served from memory
	for i := 1; i < 40; i++ {
		mustPut(t, q, batch(i, 400)) // evicts item 0's buffer from memory
		d := mustGet(t, q)
		if i%2 == 0 {
			d.Nack()
			d = mustGet(t, q)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(held.Body, payload(0, 400)) {
		t.Fatal("a held body changed under its consumer")
	}
	if err := held.Ack(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteErrClasses(t *testing.T) {
	full := writeErr(&os.PathError{Op: "write", Path: "x.seg", Err: syscall.ENOSPC})
	if d, ok := resilience.RetryAfter(full); !ok || d != FullRetryDelay || !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("ENOSPC: %v is not throttled", full)
	}
	other := writeErr(&os.PathError{Op: "write", Path: "x.seg", Err: syscall.EIO})
	if _, ok := resilience.RetryAfter(other); ok || resilience.IsPermanent(other) || !errors.Is(other, syscall.EIO) {
		t.Fatalf("EIO: %v should be a plain retryable error", other)
	}
}

// TestHeldDeliveryBounded holds one delivery while thousands of records pass: the index and the
// in-memory list must stay bounded by what is on disk, and a restart delivers only the held one.
func TestHeldDeliveryBounded(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	q := openT(t, dir, cfg, Settings{})
	defer q.Close()
	mustPut(t, q, batch(0, 300))
	held := mustGet(t, q)
	for i := 1; i < 3000; i++ {
		mustPut(t, q, batch(i, 300))
		if err := mustGet(t, q).Ack(); err != nil {
			t.Fatal(err)
		}
	}
	q.mu.Lock()
	indexed, memLen, segs := q.indexed, q.mem.len(), len(q.segs)
	q.mu.Unlock()
	if indexed > 50 || memLen > 2048 || segs > 3 {
		t.Fatalf("index %d records, memory list %d, %d segments: not bounded", indexed, memLen, segs)
	}
	if st := q.Stats(); st.Records != 1 || st.OldestAge < 0 {
		t.Fatalf("stats %+v", st)
	}
	crashed := snapshotDir(t, dir)
	q2 := openT(t, crashed, cfg, Settings{})
	defer q2.Close()
	if got := drainIDs(t, q2); !slices.Equal(got, []int{0}) {
		t.Fatalf("after a crash: %v", got)
	}
	if err := held.Ack(); err != nil {
		t.Fatal(err)
	}
}

// TestFsyncInterval checks, on a fake clock, that fsync = "interval" syncs written records in
// the background and stays idle when nothing was written.
func TestFsyncInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Fsync, cfg.FsyncInterval = FsyncInterval, time.Second
		q := openT(t, t.TempDir(), cfg, Settings{})
		defer q.Close()
		base := q.Stats().Syncs
		mustPut(t, q, batch(0, 100))
		if got := q.Stats().Syncs; got != base {
			t.Fatalf("Put synced by itself (%d syncs)", got-base)
		}
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		afterWrite := q.Stats().Syncs
		if afterWrite != base+1 {
			t.Fatalf("%d syncs after one interval with a write, want 1", afterWrite-base)
		}
		if err := mustGet(t, q).Ack(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		afterAck := q.Stats().Syncs // the ack log
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if got := q.Stats().Syncs; got != afterAck {
			t.Fatalf("%d syncs while idle", got-afterAck)
		}
	})
}
