package admin

import (
	"net/http"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// gzipStateless compresses responses for clients that accept gzip, with klauspost's stateless
// level: no compressor state survives a Write, so a scrape costs a few KiB instead of the
// ~1 MiB of compress/flate state promhttp's default gzip allocated whenever its pool had been
// emptied by a GC (most scrapes at Prometheus's intervals). /metrics compresses to about a
// fifth either way.
func gzipStateless(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Del("Content-Length")
		gz, err := gzip.NewWriterLevel(w, gzip.StatelessCompression)
		if err != nil { // only for an invalid level
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(gzipWriter{ResponseWriter: w, gz: gz}, r)
		_ = gz.Close() // a failed write already failed the response
	})
}

type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (g gzipWriter) Write(p []byte) (int, error) { return g.gz.Write(p) }

// acceptsGzip reports whether an Accept-Encoding header lists gzip (or *) without q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "*" {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || strings.HasPrefix(q, "q=0.0") && strings.Trim(q[len("q=0."):], "0") == "" {
				continue
			}
			return true
		}
	}
	return false
}
