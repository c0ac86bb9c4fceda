package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// padding makes 40000 spans exceed gRPC's default 4 MiB message limit.
var padding = string(make([]byte, 128))

func traces(spansPerScope ...int) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans()
	for _, n := range spansPerScope {
		spans := ss.AppendEmpty().Spans()
		for range n {
			sp := spans.AppendEmpty()
			sp.SetName("s")
			sp.Attributes().PutStr("padding", padding)
		}
	}
	return td
}

func getCounts(t *testing.T, addr net.Addr) Counts {
	t.Helper()
	resp, err := http.Get("http://" + addr.String() + "/count")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c Counts
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSinkCounts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type addrs struct{ grpc, http net.Addr }
	readyc := make(chan addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, "127.0.0.1:0", "127.0.0.1:0", func(g, h net.Addr) { readyc <- addrs{g, h} })
	}()
	a := <-readyc

	conn, err := grpc.NewClient(a.grpc.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)

	tests := []struct {
		name      string
		td        ptrace.Traces
		wantSpans int64 // running total
	}{
		{"empty", ptrace.NewTraces(), 0},
		{"one scope", traces(3), 3},
		{"two scopes", traces(2, 5), 10},
		{"larger than 4 MiB", traces(40000), 40010},
	}
	for i, tt := range tests {
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(tt.td)); err != nil {
			t.Fatalf("%s: export: %v", tt.name, err)
		}
		got := getCounts(t, a.http)
		if got.Spans != tt.wantSpans || got.Requests != int64(i+1) {
			t.Fatalf("%s: counts %+v, want spans %d requests %d", tt.name, got, tt.wantSpans, i+1)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRunListenError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := run(context.Background(), l.Addr().String(), "127.0.0.1:0", nil); err == nil {
		t.Fatal("run on a busy port: want an error")
	}
}
