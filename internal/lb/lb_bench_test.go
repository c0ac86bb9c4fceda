package lb

import (
	"context"
	"testing"
)

func BenchmarkPick(b *testing.B) {
	key := []byte("0123456789abcdef") // a trace id
	none := func(*Endpoint) bool { return false }
	for _, name := range []string{PolicyRoundRobin, PolicyWeightedRoundRobin, PolicyLeastInFlight, PolicyConsistentHash} {
		for _, weighted := range []bool{false, true} {
			if weighted && (name == PolicyRoundRobin || name == PolicyLeastInFlight) {
				continue
			}
			label := name
			eps := testEndpoints(8)
			if weighted {
				label += "/weighted"
				eps = testEndpoints(8, 1, 2, 3, 4, 1, 2, 3, 4)
			}
			p, _ := NewPolicy(name)
			b.Run(label, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if p.Pick(key, eps, none) == nil {
						b.Fatal("nil")
					}
				}
			})
		}
	}
}

func BenchmarkDo(b *testing.B) {
	cfg := NewDefaultConfig()
	cfg.Policy = PolicyConsistentHash
	for _, a := range []string{"10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317", "10.0.0.4:4317",
		"10.0.0.5:4317", "10.0.0.6:4317", "10.0.0.7:4317", "10.0.0.8:4317"} {
		cfg.Endpoints = append(cfg.Endpoints, EndpointSpec{Address: a})
	}
	lb, err := New(cfg, Settings{})
	if err != nil {
		b.Fatal(err)
	}
	key := []byte("0123456789abcdef")
	ok := func(context.Context, *Endpoint) error { return nil }
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := lb.Do(ctx, key, ok); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := lb.Do(ctx, key, ok); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
