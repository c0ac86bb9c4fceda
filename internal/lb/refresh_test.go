package lb

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeDNS answers from a table.
type fakeDNS struct {
	mu      sync.Mutex
	hosts   map[string][]string   // guarded by mu
	srv     map[string][]*net.SRV // guarded by mu
	err     error                 // guarded by mu
	lookups int                   // guarded by mu
}

func (d *fakeDNS) setHosts(host string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hosts[host] = addrs
}

func (d *fakeDNS) setErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

func (d *fakeDNS) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lookups
}

func (d *fakeDNS) LookupHost(_ context.Context, host string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.err != nil {
		return nil, d.err
	}
	return slices.Clone(d.hosts[host]), nil
}

func (d *fakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	if d.err != nil {
		return "", nil, d.err
	}
	return name, d.srv[name], nil
}

func addresses(b *Balancer) []string {
	var out []string
	for _, s := range b.Endpoints() {
		out = append(out, s.Address)
	}
	return out
}

func TestDNSReResolution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dns := &fakeDNS{hosts: map[string][]string{"collectors.local": {"10.0.0.2", "10.0.0.1"}}}
		cfg := NewDefaultConfig()
		cfg.DNS.Name = "collectors.local"
		cfg.DNS.Port = 4317
		cfg.DNS.RefreshInterval = 30 * time.Second
		var mu sync.Mutex
		var updates [][2][]string
		b, err := New(cfg, Settings{DNS: dns, OnUpdate: func(added, removed []string) {
			mu.Lock()
			defer mu.Unlock()
			updates = append(updates, [2][]string{added, removed})
		}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer b.Shutdown(ctx)
		if got, want := addresses(b), []string{"10.0.0.1:4317", "10.0.0.2:4317"}; !slices.Equal(got, want) {
			t.Fatalf("after Start: %v, want %v", got, want)
		}
		survivor := b.snap.Load().eps[1]
		survivor.record(errDown, time.Now().UnixNano(), time.Millisecond)

		// A new answer on the next refresh: .1 leaves, .3 joins, .2 keeps its state.
		dns.setHosts("collectors.local", "10.0.0.3", "10.0.0.2")
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if got := addresses(b); !slices.Contains(got, "10.0.0.1:4317") {
			t.Fatalf("re-resolved before refresh_interval: %v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got, want := addresses(b), []string{"10.0.0.2:4317", "10.0.0.3:4317"}; !slices.Equal(got, want) {
			t.Fatalf("after refresh: %v, want %v", got, want)
		}
		if b.snap.Load().eps[0] != survivor || survivor.failures.Load() != 1 {
			t.Error("the surviving endpoint lost its state")
		}

		// Refresh on demand: many requests while one is pending make one lookup.
		dns.setHosts("collectors.local", "10.0.0.3", "10.0.0.2", "10.0.0.4")
		n := dns.count()
		for range 10 {
			b.Refresh()
		}
		time.Sleep(minRefreshGap)
		synctest.Wait()
		if got := dns.count() - n; got != 1 {
			t.Errorf("10 Refresh calls made %d lookups, want 1", got)
		}
		if got := addresses(b); len(got) != 3 {
			t.Errorf("after Refresh: %v, want 3 endpoints", got)
		}

		// Failures and empty answers keep the current set.
		dns.setErr(errors.New("SERVFAIL"))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		dns.setErr(nil)
		dns.setHosts("collectors.local")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if got := addresses(b); len(got) != 3 {
			t.Errorf("after failed resolutions: %v, want the 3 endpoints kept", got)
		}

		mu.Lock()
		defer mu.Unlock()
		want := "[[[10.0.0.1:4317 10.0.0.2:4317] []] [[10.0.0.3:4317] [10.0.0.1:4317]] [[10.0.0.4:4317] []]]"
		if got := sprint(updates); got != want {
			t.Errorf("updates %s, want %s", got, want)
		}
	})
}

func TestDNSResolver(t *testing.T) {
	dns := &fakeDNS{
		hosts: map[string][]string{"c.local": {"10.0.0.1", "fd00::1"}},
		srv: map[string][]*net.SRV{"_otlp._tcp.c.local": {
			{Target: "c1.c.local.", Port: 4317, Weight: 10},
			{Target: "c2.c.local.", Port: 4318, Weight: 0},
			{Target: "bad.c.local.", Port: 0, Weight: 5},
		}},
	}
	tests := []struct {
		name string
		r    DNSResolver
		want []EndpointSpec
	}{
		{"A and AAAA with port key", DNSResolver{Name: "c.local", Port: 4317},
			[]EndpointSpec{{Address: "10.0.0.1:4317"}, {Address: "[fd00::1]:4317"}}},
		{"host:port", DNSResolver{Name: "c.local:55680"},
			[]EndpointSpec{{Address: "10.0.0.1:55680"}, {Address: "[fd00::1]:55680"}}},
		{"SRV", DNSResolver{Name: "_otlp._tcp.c.local", SRV: true},
			[]EndpointSpec{{Address: "c1.c.local:4317", Weight: 10}, {Address: "c2.c.local:4318"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Lookup = dns
			got, err := tt.r.Resolve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := (&DNSResolver{Name: "c.local", Lookup: dns}).Resolve(context.Background()); err == nil {
		t.Error("a name without a port resolved")
	}
}

func TestFileWatchReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "endpoints.txt")
	writeFile := func(content string) {
		t.Helper()
		// Written aside and renamed into place, as editors and config managers do.
		tmp := filepath.Join(dir, ".endpoints.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("10.0.0.1:4317\n10.0.0.2:4317\n")
	cfg := NewDefaultConfig()
	cfg.File.Path = path
	cfg.File.RefreshInterval = time.Hour // only the watch can reload within the test
	updates := make(chan string, 10)
	b, err := New(cfg, Settings{OnUpdate: func(added, removed []string) { updates <- sprint([2][]string{added, removed}) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(ctx)
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-updates:
			if got != want {
				t.Fatalf("update %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no update within 10s, want %s", want)
		}
	}
	wait("[[10.0.0.1:4317 10.0.0.2:4317] []]")
	survivor := b.snap.Load().eps[1]

	writeFile("# moved\n10.0.0.2:4317\n10.0.0.3:4317 2\n")
	wait("[[10.0.0.3:4317] [10.0.0.1:4317]]")
	if b.snap.Load().eps[0] != survivor {
		t.Error("reload replaced the surviving endpoint")
	}

	// Written in place, in the TOML form.
	if err := os.WriteFile(path, []byte(`endpoints = ["10.0.0.2:4317", {address = "10.0.0.4:4317", weight = 3}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	wait("[[10.0.0.4:4317] [10.0.0.3:4317]]")
	if s := statusOf(t, b, "10.0.0.4:4317"); s.Weight != 3 {
		t.Errorf("weight %d, want 3", s.Weight)
	}
}

func TestActiveHealth(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		down := map[string]bool{}
		probes := map[string]int{}
		probe := func(ctx context.Context, addr string) error {
			mu.Lock()
			probes[addr]++
			d := down[addr]
			mu.Unlock()
			if d {
				<-ctx.Done() // hangs until the probe timeout
				return ctx.Err()
			}
			return nil
		}
		set := func(addr string, d bool) {
			mu.Lock()
			defer mu.Unlock()
			down[addr] = d
		}
		cfg := NewDefaultConfig()
		cfg.Endpoints = []EndpointSpec{{Address: "10.0.0.1:4317"}, {Address: "10.0.0.2:4317"}}
		cfg.Health.Active = ActiveConfig{Enabled: true, Interval: time.Second, Timeout: 100 * time.Millisecond,
			HealthyThreshold: 2, UnhealthyThreshold: 3}
		b, err := New(cfg, Settings{Probe: probe})
		if err != nil {
			t.Fatal(err)
		}
		set("10.0.0.1:4317", true)
		ctx := context.Background()
		if err := b.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer b.Shutdown(ctx)
		isDown := func() bool { return statusOf(t, b, "10.0.0.1:4317").Down }

		// Probes at 0s and 1s fail: still up (hysteresis); the third, at 2s, marks it down.
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if isDown() {
			t.Fatal("down after 2 failed probes, want 3")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if !isDown() {
			t.Fatal("up after 3 failed probes")
		}
		for range 4 {
			if e := b.Pick(nil); e.Address() != "10.0.0.2:4317" {
				t.Fatalf("picked %s while it is down", e)
			}
		}

		// Back after two good probes.
		set("10.0.0.1:4317", false)
		time.Sleep(time.Second)
		synctest.Wait()
		if !isDown() {
			t.Fatal("up after 1 good probe, want 2")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if isDown() {
			t.Fatal("still down after 2 good probes")
		}

		// A removed endpoint is no longer probed.
		if err := b.Update([]EndpointSpec{{Address: "10.0.0.2:4317"}}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		mu.Lock()
		n := probes["10.0.0.1:4317"]
		mu.Unlock()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if probes["10.0.0.1:4317"] != n {
			t.Errorf("removed endpoint probed %d more times", probes["10.0.0.1:4317"]-n)
		}
	})
}

func TestLifecycle(t *testing.T) {
	cfg := NewDefaultConfig()
	cfg.Endpoints = []EndpointSpec{{Address: "10.0.0.1:4317"}}
	b, err := New(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown without Start: %v", err)
	}
	if err := b.Start(ctx); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	// Do keeps working on the last set.
	if err := b.Do(ctx, nil, func(context.Context, *Endpoint) error { return nil }); err != nil {
		t.Error(err)
	}

	b2, err := New(cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b2.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	if err := b2.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDialProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := ln.Addr().String()
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	ctx := context.Background()
	if err := dialProbe(ctx, up); err != nil {
		t.Errorf("probe of a listening endpoint: %v", err)
	}
	<-accepted
	ln.Close()
	if err := dialProbe(ctx, up); err == nil {
		t.Error("probe of a closed port succeeded")
	}
}
