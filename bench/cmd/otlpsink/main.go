// Command otlpsink is the receiving end of the forwarding benchmark: it accepts OTLP/gRPC trace
// exports, counts spans and requests, and serves the counts as JSON on GET /count. It decodes
// every request with pdata, as a real backend would, and its CPU is not part of any measurement.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

func main() {
	grpcAddr := flag.String("grpc", "127.0.0.1:24317", "OTLP/gRPC listen address")
	httpAddr := flag.String("http", "127.0.0.1:24380", "listen address of GET /count")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, *grpcAddr, *httpAddr, func(g, h net.Addr) {
		log.Info("otlpsink ready", "grpc", g.String(), "http", h.String())
	})
	if err != nil {
		log.Error("otlpsink", "err", err)
		os.Exit(1)
	}
}

// Counts is the body of GET /count.
type Counts struct {
	Spans    int64 `json:"spans"`
	Requests int64 `json:"requests"`
}

// sink counts what it receives.
type sink struct {
	ptraceotlp.UnimplementedGRPCServer
	spans    atomic.Int64
	requests atomic.Int64
}

func (s *sink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.spans.Add(int64(req.Traces().SpanCount()))
	s.requests.Add(1)
	return ptraceotlp.NewExportResponse(), nil
}

func (s *sink) counts() Counts {
	return Counts{Spans: s.spans.Load(), Requests: s.requests.Load()}
}

// maxRecvMsgSize admits the largest batches a collector forwards (8192 spans with attributes
// exceed gRPC's 4 MiB default).
const maxRecvMsgSize = 64 << 20

// run serves until ctx is done, then stops both servers. ready is called once both listen.
func run(ctx context.Context, grpcAddr, httpAddr string, ready func(grpcAddr, httpAddr net.Addr)) error {
	gl, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return err
	}
	hl, err := net.Listen("tcp", httpAddr)
	if err != nil {
		gl.Close()
		return err
	}

	s := &sink{}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(maxRecvMsgSize))
	ptraceotlp.RegisterGRPCServer(gs, s)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.counts())
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(gl) }()
	go func() { errc <- hs.Serve(hl) }()
	if ready != nil {
		ready(gl.Addr(), hl.Addr())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	herr := hs.Shutdown(shutCtx)
	stopGRPC(shutCtx, gs)
	// Both Serve goroutines have returned once their servers are stopped; collect them.
	for range 2 - boolInt(serveErr != nil) {
		if e := <-errc; !isClosed(e) && serveErr == nil {
			serveErr = e
		}
	}
	if isClosed(serveErr) {
		serveErr = nil
	}
	if serveErr != nil {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return herr
}

// stopGRPC drains in-flight exports until ctx is done, then cuts the rest.
func stopGRPC(ctx context.Context, gs *grpc.Server) {
	done := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		gs.Stop()
		<-done
	}
}

func isClosed(err error) bool {
	return err == nil || errors.Is(err, http.ErrServerClosed) || errors.Is(err, grpc.ErrServerStopped)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
