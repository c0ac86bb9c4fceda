package pipeline_test

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOwnerTakeOnceAndOnlyTheOfferedSlice(t *testing.T) {
	body := []byte("request")
	var back [][]byte
	o := pipeline.NewOwner(body, func(b []byte) { back = append(back, b) })
	if o.Take(append([]byte(nil), body...)) {
		t.Fatal("took a copy of the body: only the offered slice may be taken")
	}
	if o.Take(body[:3]) {
		t.Fatal("took a shorter slice of the body")
	}
	if o.Taken() {
		t.Fatal("Taken after refused Takes")
	}
	if !o.Take(body) {
		t.Fatal("first Take of the offered body refused")
	}
	if o.Take(body) {
		t.Fatal("second Take succeeded: two consumers would own one buffer")
	}
	o.Untake()
	if o.Taken() || !o.Take(body) {
		t.Fatal("after Untake the body is the producer's again and can be taken once more")
	}
	o.Release(body)
	if len(back) != 1 || &back[0][0] != &body[0] {
		t.Fatalf("Release gave back %d buffers, want the offered one", len(back))
	}
	var nilOwner *pipeline.Owner
	if nilOwner.Take(body) || nilOwner.Taken() {
		t.Fatal("a nil Owner offers nothing")
	}
	nilOwner.Release(body) // no panic
}

func TestFanoutHidesTheOwnerFromSeveralConsumers(t *testing.T) {
	body := []byte("x")
	var seen []*pipeline.Owner
	record := pipeline.ConsumerFunc(func(_ context.Context, b pipeline.Batch) error {
		seen = append(seen, b.Owner)
		return nil
	})
	o := pipeline.NewOwner(body, nil)
	b := pipeline.Batch{Signal: pipeline.SignalTraces, Body: body, Items: 1, Owner: o}
	if err := (pipeline.Fanout{record}).Consume(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := (pipeline.Fanout{record, record}).Consume(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[0] != o || seen[1] != nil || seen[2] != nil {
		t.Fatalf("owners seen %v: a single consumer gets the Owner, several get none", seen)
	}
}
