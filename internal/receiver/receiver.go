// Package receiver serves OTLP over gRPC and HTTP (protobuf and JSON) and hands each validated
// export request, still in protobuf wire form, to the pipeline of its signal.
//
// Requests are validated and counted with otlpwire, never decoded into pdata on the protobuf
// paths; spans with missing or zero ids are dropped with an OTLP partial success. Pipeline
// errors map to OTLP status codes: permanent → 400/InvalidArgument, throttled →
// 429/ResourceExhausted with Retry-After/RetryInfo, anything else → 503/Unavailable.
package receiver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
	"github.com/otlp-dev/otlp/internal/serverconf"
)

// Settings is what the server injects.
type Settings struct {
	Logger  *slog.Logger     // nil: discard
	Metrics *selftel.Metrics // nil: no self-metrics
	// The pipelines of each signal. A nil consumer leaves the signal unserved: gRPC answers
	// Unimplemented and HTTP 404.
	Traces, MetricsConsumer, Logs pipeline.Consumer
}

// Receiver is an OTLP gRPC and HTTP server. Build it with New.
type Receiver struct {
	cfg       Config
	log       *slog.Logger
	metrics   *selftel.Metrics
	consumers [4]pipeline.Consumer // by pipeline.Signal
	tls       *tls.Config
	auth      serverconf.Bearer
	maxBody   int           // HTTP, in bytes, before and after decompression
	sem       chan struct{} // HTTP concurrency; nil: unlimited
	zstd      *zstd.Decoder // HTTP bodies, up to maxBody
	grpcZstd  *zstd.Decoder // gRPC messages, up to the gRPC message limit
	httpH     http.Handler

	frames      sync.Pool // *grpcraw.Frame, gRPC request buffers
	buffers     sync.Pool // *[]byte, HTTP bodies and rewritten requests
	gzipReaders sync.Pool // *gzip.Reader

	// hardStop is cancelled when Shutdown stops waiting: request contexts derive from it so
	// consumers blocked on a request give up.
	hardStop   context.Context
	cancelHard context.CancelFunc
	nextLog    atomic.Int64 // unix nanos before which server errors log at debug only

	mu       sync.Mutex
	grpcSrv  *grpc.Server   // guarded by mu
	httpSrv  *http.Server   // guarded by mu
	grpcAddr net.Addr       // guarded by mu
	httpAddr net.Addr       // guarded by mu
	started  bool           // guarded by mu
	stopping bool           // guarded by mu
	stopped  chan struct{}  // closed when Shutdown is over
	serving  sync.WaitGroup // Serve goroutines
}

// New checks cfg, loads TLS material and the token, and builds a receiver ready to Start.
func New(cfg Config, set Settings) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.TLS.Load()
	if err != nil {
		return nil, err
	}
	auth, err := serverconf.NewBearer(cfg.Auth)
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:     cfg,
		log:     set.Logger,
		metrics: set.Metrics,
		tls:     tlsCfg,
		auth:    auth,
		maxBody: cfg.HTTP.MaxRequestBodyMiB << 20,
		stopped: make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.consumers[pipeline.SignalTraces] = set.Traces
	r.consumers[pipeline.SignalMetrics] = set.MetricsConsumer
	r.consumers[pipeline.SignalLogs] = set.Logs
	if n := cfg.HTTP.MaxConcurrentRequests; n > 0 {
		r.sem = make(chan struct{}, n)
	}
	r.zstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(uint64(r.maxBody)), zstd.WithDecoderMaxWindow(uint64(max(r.maxBody, zstd.MinWindowSize))))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	maxMsg := uint64(cfg.GRPC.MaxRecvMsgSizeMiB) << 20
	r.grpcZstd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0),
		zstd.WithDecoderMaxMemory(maxMsg), zstd.WithDecoderMaxWindow(max(maxMsg, zstd.MinWindowSize)))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	r.frames.New = func() any { return new(grpcraw.Frame) }
	r.buffers.New = func() any { return new([]byte) }
	r.hardStop, r.cancelHard = context.WithCancel(context.Background())
	r.httpH = r.newHTTPHandler()
	return r, nil
}

// Start binds the configured listeners and serves in the background. It fails, binding
// nothing, if a port is taken.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopping {
		return errors.New("receiver: already started or shut down")
	}
	var lc net.ListenConfig
	var grpcLis, httpLis net.Listener
	var err error
	if ep := r.cfg.GRPC.Endpoint; ep != "" {
		if grpcLis, err = lc.Listen(ctx, "tcp", ep); err != nil {
			return fmt.Errorf("grpc.endpoint: %w", err)
		}
	}
	if ep := r.cfg.HTTP.Endpoint; ep != "" {
		if httpLis, err = lc.Listen(ctx, "tcp", ep); err != nil {
			if grpcLis != nil {
				_ = grpcLis.Close()
			}
			return fmt.Errorf("http.endpoint: %w", err)
		}
	}
	r.started = true
	if grpcLis != nil {
		srv := r.newGRPCServer()
		r.grpcSrv, r.grpcAddr = srv, grpcLis.Addr()
		r.serving.Go(func() {
			if err := srv.Serve(grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				r.log.Error("otlp grpc server stopped", "err", err)
			}
		})
	}
	if httpLis != nil {
		srv := r.newHTTPServer()
		r.httpSrv, r.httpAddr = srv, httpLis.Addr()
		r.serving.Go(func() {
			var err error
			if srv.TLSConfig != nil {
				err = srv.ServeTLS(httpLis, "", "")
			} else {
				err = srv.Serve(httpLis)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				r.log.Error("otlp http server stopped", "err", err)
			}
		})
	}
	r.log.Info("otlp receiver started", "grpc", addrString(r.grpcAddr), "http", addrString(r.httpAddr), "tls", r.tls != nil)
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// GRPCAddr is the bound gRPC address, nil before Start or when gRPC is off.
func (r *Receiver) GRPCAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.grpcAddr
}

// HTTPAddr is the bound HTTP address, nil before Start or when HTTP is off.
func (r *Receiver) HTTPAddr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.httpAddr
}

// Shutdown stops accepting connections and waits for the requests in flight to complete into
// their pipelines. When ctx ends first, it closes every connection, cancels the contexts of the
// requests still running and returns ctx's error; a consumer that ignores cancellation keeps its
// handler running until it returns. Shutdown is idempotent and safe without Start.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.stopping {
		r.mu.Unlock()
		select {
		case <-r.stopped:
			return nil
		case <-ctx.Done():
			select {
			case <-r.stopped:
				return nil
			default:
				return fmt.Errorf("receiver shutdown: %w", ctx.Err())
			}
		}
	}
	r.stopping = true
	grpcSrv, httpSrv := r.grpcSrv, r.httpSrv
	r.mu.Unlock()
	defer close(r.stopped)
	if grpcSrv == nil && httpSrv == nil { // never started
		r.cancelHard()
		return nil
	}

	drained := make(chan struct{})
	go func() { // ends when both servers have drained, or once forced closed below
		defer close(drained)
		var wg sync.WaitGroup
		if grpcSrv != nil {
			wg.Go(grpcSrv.GracefulStop)
		}
		if httpSrv != nil {
			wg.Go(func() { _ = httpSrv.Shutdown(context.Background()) })
		}
		wg.Wait()
	}()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		select {
		case <-drained: // finished meanwhile
		default:
			err = fmt.Errorf("receiver shutdown: %w", ctx.Err())
			r.cancelHard()
			if grpcSrv != nil {
				grpcSrv.Stop()
			}
			if httpSrv != nil {
				_ = httpSrv.Close()
			}
		}
	}
	r.cancelHard()
	r.serving.Wait()
	return err
}

// requestContext ties a request's context to the receiver's hard stop.
func (r *Receiver) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(r.hardStop, cancel)
	return ctx, func() { stop(); cancel() }
}

// getBuffer and putBuffer recycle request buffers; very large ones are left to the GC.
func (r *Receiver) getBuffer() *[]byte { return r.buffers.Get().(*[]byte) }

func (r *Receiver) putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		*b = (*b)[:0]
		r.buffers.Put(b)
	}
}

const maxPooledBuffer = 8 << 20

// Errors caused by clients are logged at debug; pipeline errors at warn, at most one line
// every logEvery (the rest at debug), so that a flood of failing requests cannot flood the log.
const logEvery = 10 * time.Second

func (r *Receiver) logClientError(transport string, sig pipeline.Signal, err error) {
	r.log.Debug("otlp request rejected", "transport", transport, "signal", sig.String(), "err", err)
}

func (r *Receiver) logServerError(transport string, sig pipeline.Signal, items int, err error) {
	now := time.Now().UnixNano()
	next := r.nextLog.Load()
	if now >= next && r.nextLog.CompareAndSwap(next, now+int64(logEvery)) {
		r.log.Warn("otlp pipeline refused a request (further errors logged at debug for a while)",
			"transport", transport, "signal", sig.String(), "items", items, "err", err)
		return
	}
	r.log.Debug("otlp pipeline refused a request", "transport", transport, "signal", sig.String(), "items", items, "err", err)
}
