// Microservices: a call chain frontend → checkout → payment, three HTTP services in one
// process, each with its own client (its own service.name). The W3C trace context travels in
// the HTTP headers, so the three services' spans form one distributed trace in the backend.
//
//	go run ./cmd/otlp-server &
//	go run ./examples/microservices
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otlp-dev/otlp/otlp"
)

var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// service is one HTTP service that may call the next one.
type service struct {
	name   string
	client *otlp.Client
	tracer trace.Tracer
	next   string // URL of the next service ("" for the last)
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	span.SetAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", r.URL.Path))
	if s.next != "" {
		if err := s.call(ctx, s.next); err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	fmt.Fprintf(w, "ok from %s\n", s.name)
}

// call sends a request with the trace context in its headers, inside a client span.
func (s *service) call(ctx context.Context, url string) error {
	ctx, span := s.tracer.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	return nil
}

func start(ctx context.Context, name, next string) (*service, string, func()) {
	c, err := otlp.New(ctx, otlp.WithService(name, "1.0.0"), otlp.WithEndpoint("http://localhost:4317"))
	if err != nil {
		log.Fatal(err)
	}
	s := &service{name: name, client: c, tracer: c.Tracer(name), next: next}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return s, "http://" + ln.Addr().String(), func() {
		_ = srv.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Shutdown(sctx)
	}
}

func main() {
	ctx := context.Background()
	_, paymentURL, stopPayment := start(ctx, "payment", "")
	defer stopPayment()
	_, checkoutURL, stopCheckout := start(ctx, "checkout", paymentURL+"/pay")
	defer stopCheckout()
	front, _, stopFront := start(ctx, "frontend", "")
	defer stopFront()

	for range 5 {
		ctx, span := front.tracer.Start(ctx, "user checkout")
		if err := front.call(ctx, checkoutURL+"/checkout"); err != nil {
			log.Print(err)
		}
		fmt.Println("trace", span.SpanContext().TraceID())
		span.End()
	}
}
