package admin

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otlp-dev/otlp/internal/pipeline"
	"github.com/otlp-dev/otlp/internal/selftel"
)

func TestMetricsGzipNegotiation(t *testing.T) {
	m := selftel.New()
	m.Received(pipeline.SignalTraces, "grpc", 7)
	h := New(Config{}, Settings{Gatherer: m.Registry}).Handler()
	scrape := func(accept string) (*http.Response, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		resp := rec.Result()
		var body io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatalf("Accept-Encoding %q: gzip header but not gzip: %v", accept, err)
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatalf("Accept-Encoding %q: reading the body: %v", accept, err)
		}
		return resp, string(b)
	}
	for _, c := range []struct {
		accept string
		gzip   bool
	}{
		{"", false}, {"gzip", true}, {"br, gzip;q=0.8", true}, {"*", true}, {"identity", false},
		{"gzip;q=0", false}, {"gzip; q=0.000", false}, {"GZIP;q=0.5", true},
	} {
		resp, body := scrape(c.accept)
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != c.gzip {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", c.accept, got, c.gzip)
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `otlp_received_spans_total{transport="grpc"} 7`) {
			t.Errorf("Accept-Encoding %q: status %d, body lacks the received counter:\n%.300s", c.accept, resp.StatusCode, body)
		}
	}
}
