package testutil_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSink(t *testing.T) {
	ca := testutil.NewCA(t)
	sink := testutil.NewSink(t, testutil.WithTLS(ca.ServerTLS(t, false)))
	sink.SetPartialSuccess(1, "one too many")

	conn, err := grpc.NewClient(sink.GRPCAddr, grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(ca.Pool, "")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := ptraceotlp.NewGRPCClient(conn).Export(ctx(t), ptraceotlp.NewExportRequestFromTraces(testutil.Traces(2, 3, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.PartialSuccess().RejectedSpans() != 1 {
		t.Errorf("partial success %d", resp.PartialSuccess().RejectedSpans())
	}

	body, _ := plogotlp.NewExportRequestFromLogs(testutil.Logs(1, 4, 0)).MarshalJSON()
	tr := &http.Transport{TLSClientConfig: ca.ServerTLS(t, false).Clone()}
	tr.TLSClientConfig.RootCAs, tr.TLSClientConfig.Certificates = ca.Pool, nil
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, sink.HTTPURL+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	hr, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = hr.Body.Close()
	if hr.StatusCode != 200 || hr.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HTTP %d %s", hr.StatusCode, hr.Header.Get("Content-Type"))
	}

	if err := sink.WaitSpans(ctx(t), 6); err != nil {
		t.Fatal(err)
	}
	if err := sink.WaitItems(ctx(t), pipeline.SignalLogs, 4); err != nil {
		t.Fatal(err)
	}
	if ids := sink.SpanIDs(); len(ids) != 6 || ids[5] != testutil.SpanID(5) {
		t.Errorf("span ids %v", ids)
	}
	short, cancel := context.WithTimeout(t.Context(), time.Millisecond)
	defer cancel()
	if err := sink.WaitSpans(short, 7); err == nil {
		t.Error("WaitSpans for spans that never come returned nil")
	}
	reqs := sink.Requests()
	if len(reqs) != 2 || reqs[0].Transport != "grpc" || reqs[1].Encoding != "json" {
		t.Errorf("requests %+v", reqs)
	}
}

func TestFlakyHTTP(t *testing.T) {
	f := testutil.NewFlakyServer(t)
	f.Script(testutil.Unavailable(1500*time.Millisecond), testutil.Throttle(time.Second), testutil.Reject(), testutil.Drop(), testutil.Accept())
	body, _ := ptraceotlp.NewExportRequestFromTraces(testutil.Traces(1, 2, 0)).MarshalProto()
	type answer struct {
		code       int
		retryAfter string
		failed     bool
	}
	want := []answer{{503, "2", false}, {429, "1", false}, {400, "", false}, {0, "", true}, {200, "", false}}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i, w := range want {
		req, _ := http.NewRequestWithContext(ctx(t), http.MethodPost, f.HTTPURL+"/v1/traces", bytes.NewReader(body))
		resp, err := c.Do(req)
		if w.failed {
			if err == nil {
				_ = resp.Body.Close()
				t.Errorf("request %d: answered, want a dropped connection", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != w.code || resp.Header.Get("Retry-After") != w.retryAfter {
			t.Errorf("request %d: %d Retry-After %q, want %d %q", i, resp.StatusCode, resp.Header.Get("Retry-After"), w.code, w.retryAfter)
		}
	}
	if f.AcceptedItems() != 2 || len(f.Requests()) != 5 {
		t.Errorf("accepted %d in %d requests", f.AcceptedItems(), len(f.Requests()))
	}
}

func TestFlakyGRPC(t *testing.T) {
	f := testutil.NewFlakyServer(t)
	f.Script(testutil.Throttle(250*time.Millisecond), testutil.Reject(), testutil.Delay(time.Hour))
	conn, err := grpc.NewClient(f.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ptraceotlp.NewGRPCClient(conn)
	req := ptraceotlp.NewExportRequestFromTraces(testutil.Traces(1, 1, 0))

	_, err = client.Export(ctx(t), req)
	st := status.Convert(err)
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if st.Code() != codes.ResourceExhausted || delay != 250*time.Millisecond {
		t.Errorf("throttle: %v, RetryInfo %v", err, delay)
	}
	if _, err := client.Export(ctx(t), req); status.Code(err) != codes.InvalidArgument {
		t.Errorf("reject: %v", err)
	}
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := client.Export(short, req); status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("delay past the client's deadline: %v", err)
	}
	if _, err := client.Export(ctx(t), req); err != nil {
		t.Errorf("default accept: %v", err)
	}
}
