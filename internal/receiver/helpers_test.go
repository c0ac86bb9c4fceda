package receiver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/otlp-dev/otlp/internal/grpcraw"
	"github.com/otlp-dev/otlp/internal/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait of the tests, so that a bug fails instead of hanging.
const waitTimeout = 15 * time.Second

// sink is a test pipeline: it keeps a copy of every batch and can be told to fail or block.
type sink struct {
	mu      sync.Mutex
	bodies  [4][][]byte // guarded by mu; by signal
	items   [4]int      // guarded by mu
	fail    error       // guarded by mu; returned by Consume when set
	arrived chan struct{}
	// block, when set, is received from before Consume returns; entered is signalled first.
	block   chan struct{}
	entered chan struct{}
}

func newSink() *sink { return &sink{arrived: make(chan struct{}, 1)} }

func (s *sink) Consume(ctx context.Context, b pipeline.Batch) error {
	if s.block != nil {
		s.entered <- struct{}{}
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.bodies[b.Signal] = append(s.bodies[b.Signal], slices.Clone(b.Body))
	s.items[b.Signal] += b.Items
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (s *sink) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *sink) count(sig pipeline.Signal) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items[sig]
}

// waitItems waits until at least n items of sig have arrived.
func (s *sink) waitItems(t *testing.T, sig pipeline.Signal, n int) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	for s.count(sig) < n {
		select {
		case <-s.arrived:
		case <-deadline.C:
			t.Fatalf("%v: %d items arrived, want %d", sig, s.count(sig), n)
		}
	}
}

func (s *sink) traces(t *testing.T) ptrace.Traces {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := ptrace.NewTraces()
	for _, b := range s.bodies[pipeline.SignalTraces] {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			t.Fatalf("the pipeline received a body pdata cannot decode: %v", err)
		}
		req.Traces().ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	return out
}

// pdataItems decodes a request with pdata and counts its spans, points or records.
func pdataItems(sig pipeline.Signal, b []byte) (int, error) {
	switch sig {
	case pipeline.SignalTraces:
		req := ptraceotlp.NewExportRequest()
		err := req.UnmarshalProto(b)
		return req.Traces().SpanCount(), err
	case pipeline.SignalMetrics:
		req := pmetricotlp.NewExportRequest()
		err := req.UnmarshalProto(b)
		return req.Metrics().DataPointCount(), err
	}
	req := plogotlp.NewExportRequest()
	err := req.UnmarshalProto(b)
	return req.Logs().LogRecordCount(), err
}

// decodeResponse checks an Export*ServiceResponse body.
func decodeResponse(sig pipeline.Signal, json bool, b []byte) error {
	type resp interface {
		UnmarshalProto([]byte) error
		UnmarshalJSON([]byte) error
	}
	var r resp
	switch sig {
	case pipeline.SignalTraces:
		r = ptraceotlp.NewExportResponse()
	case pipeline.SignalMetrics:
		r = pmetricotlp.NewExportResponse()
	default:
		r = plogotlp.NewExportResponse()
	}
	if json {
		return r.UnmarshalJSON(b)
	}
	return r.UnmarshalProto(b)
}

func (s *sink) metrics(t *testing.T) pmetric.Metrics {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := pmetric.NewMetrics()
	for _, b := range s.bodies[pipeline.SignalMetrics] {
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			t.Fatalf("the pipeline received a body pdata cannot decode: %v", err)
		}
		req.Metrics().ResourceMetrics().MoveAndAppendTo(out.ResourceMetrics())
	}
	return out
}

func (s *sink) logs(t *testing.T) plog.Logs {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := plog.NewLogs()
	for _, b := range s.bodies[pipeline.SignalLogs] {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			t.Fatalf("the pipeline received a body pdata cannot decode: %v", err)
		}
		req.Logs().ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
	}
	return out
}

// testConfig listens on loopback ports chosen by the kernel.
func testConfig() Config {
	cfg := NewDefaultConfig()
	cfg.GRPC.Endpoint = "127.0.0.1:0"
	cfg.HTTP.Endpoint = "127.0.0.1:0"
	return cfg
}

// startReceiver starts a receiver feeding s for every signal and shuts it down at cleanup.
func startReceiver(t *testing.T, cfg Config, s *sink) *Receiver {
	t.Helper()
	r, err := New(cfg, Settings{Traces: s, MetricsConsumer: s, Logs: s})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return r
}

// certs are the files of a test PKI: a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA.
type certs struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
	client                                               tls.Certificate
}

func newCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string, tls.Certificate) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		writeFile(t, certFile, certPEM)
		writeFile(t, keyFile, keyPEM)
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return certFile, keyFile, pair
	}
	c := certs{caFile: filepath.Join(dir, "ca.crt"), pool: x509.NewCertPool()}
	writeFile(t, c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))
	c.pool.AddCert(ca)
	c.serverCert, c.serverKey, _ = issue("server", 2, x509.ExtKeyUsageServerAuth)
	c.clientCert, c.clientKey, c.client = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeFile(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// grpcClient dials the receiver with the raw codec, so tests can send arbitrary bytes.
func grpcClient(t *testing.T, addr net.Addr, tlsCfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	conn, err := grpc.NewClient(addr.String(), grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(grpcraw.Codec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// exportGRPC sends body to sig's Export method and returns the response bytes.
func exportGRPC(ctx context.Context, conn *grpc.ClientConn, sig pipeline.Signal, body []byte, opts ...grpc.CallOption) ([]byte, error) {
	var resp grpcraw.Frame
	err := conn.Invoke(ctx, grpcMethods[sig], &grpcraw.Frame{Body: body}, &resp, opts...)
	return resp.Body, err
}

type httpResult struct {
	status int
	header http.Header
	body   []byte
}

// post sends one OTLP/HTTP request.
func post(t *testing.T, client *http.Client, url, contentType string, body []byte, header map[string]string) httpResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpResult{status: resp.StatusCode, header: resp.Header, body: b}
}

func httpURL(r *Receiver, sig pipeline.Signal, scheme string) string {
	return fmt.Sprintf("%s://%s/v1/%s", scheme, r.HTTPAddr(), sig)
}

// Request builders.

func tracesBody(t testing.TB, n int, zeroEvery int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "unit")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("unit-scope")
	for i := range n {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(fmt.Sprintf("span-%d", i))
		if zeroEvery == 0 || (i+1)%zeroEvery != 0 {
			sp.SetTraceID(pcommon.TraceID{1, byte(i), byte(i >> 8), 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
		}
		sp.SetSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8), 4, 5, 6, 7, 8})
		sp.Attributes().PutInt("i", int64(i))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func metricsBody(t testing.TB, points int) []byte {
	t.Helper()
	md := pmetric.NewMetrics()
	g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	g.SetName("unit.gauge")
	gauge := g.SetEmptyGauge()
	for i := range points {
		gauge.DataPoints().AppendEmpty().SetIntValue(int64(i))
	}
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logsBody(t testing.TB, n int) []byte {
	t.Helper()
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := range n {
		sl.LogRecords().AppendEmpty().Body().SetStr(fmt.Sprintf("line %d", i))
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func body(t testing.TB, sig pipeline.Signal, n int) []byte {
	switch sig {
	case pipeline.SignalTraces:
		return tracesBody(t, n, 0)
	case pipeline.SignalMetrics:
		return metricsBody(t, n)
	}
	return logsBody(t, n)
}

// toJSON re-encodes a protobuf request of sig as OTLP/JSON.
func toJSON(t testing.TB, sig pipeline.Signal, b []byte) []byte {
	t.Helper()
	type req interface {
		UnmarshalProto([]byte) error
		MarshalJSON() ([]byte, error)
	}
	var r req
	switch sig {
	case pipeline.SignalTraces:
		r = ptraceotlp.NewExportRequest()
	case pipeline.SignalMetrics:
		r = pmetricotlp.NewExportRequest()
	default:
		r = plogotlp.NewExportRequest()
	}
	if err := r.UnmarshalProto(b); err != nil {
		t.Fatal(err)
	}
	j, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return j
}
