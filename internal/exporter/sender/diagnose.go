package sender

import (
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otlp-dev/otlp/resilience"
)

// remindEvery is how often a cause that persists is logged again.
const remindEvery = 5 * time.Minute

// diagnosis turns failed attempts into log lines a user can act on: one WARN line naming the
// cause and the fix when the cause first appears or changes, a reminder every remindEvery
// while it lasts, and one INFO line when deliveries succeed again. Never one line per attempt.
type diagnosis struct {
	log     *slog.Logger
	failing atomic.Bool // a cause is current: lets a success skip the lock on the hot path

	mu       sync.Mutex
	cause    string               // guarded by mu; "" while attempts succeed
	since    time.Time            // guarded by mu; when the failures began
	logged   map[string]time.Time // guarded by mu; when each cause was last logged
	failures int                  // guarded by mu; failed attempts since the failures began
}

// observe records an attempt's outcome. queued is what the queue holds, for the log line.
func (d *diagnosis) observe(err error, queued func() int) {
	if err == nil && !d.failing.Load() {
		return
	}
	if err != nil && resilience.IsPermanent(err) {
		return // the destination answered: the data was rejected, and that is logged where it is dropped
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		if d.cause != "" {
			d.log.Info("export recovered", "failing_for", now.Sub(d.since).Round(time.Second).String(),
				"failed_attempts", d.failures)
			d.cause, d.failures, d.logged = "", 0, nil
			d.failing.Store(false)
		}
		return
	}
	cause, fix := Explain(err)
	if d.cause == "" {
		d.since = now
	}
	d.failures++
	d.cause = cause
	d.failing.Store(true)
	// A cause is logged when it appears and again every remindEvery while it lasts; two causes
	// that alternate (a refused connection, then an open breaker) log each at that rate.
	if last, ok := d.logged[cause]; ok && now.Sub(last) < remindEvery {
		return
	}
	if d.logged == nil {
		d.logged = map[string]time.Time{}
	}
	d.logged[cause] = now
	d.log.Warn("export failing: "+cause, "fix", fix, "error", err.Error(),
		"failing_for", now.Sub(d.since).Round(time.Second).String(), "failed_attempts", d.failures,
		"queued_items", queued(), "data", "kept and retried")
}

// wireCauses maps the text of wire errors to their cause and fix, first match wins: the errors
// of gRPC, net/http and crypto/tls are not typed, so their text is all there is to read.
var wireCauses = [...]struct {
	texts      []string
	cause, fix string
}{
	{[]string{"first record does not look like a TLS handshake", "server gave HTTP response to HTTPS client"},
		"TLS to an endpoint that speaks plaintext",
		"write the endpoint as http://host:port (or set tls.insecure = true), or enable TLS on the receiver"},
	{[]string{"tls: certificate required", "tls: bad certificate"},
		"the server requires a client certificate",
		"set tls.cert_file and tls.key_file to a certificate the server's CA signed"},
	{[]string{"error reading server preface", "connection closed before server preface", "malformed HTTP response \"\\x15", "HTTP request to an HTTPS server"},
		"plaintext to an endpoint that expects TLS, or not an OTLP endpoint",
		"write the endpoint as https://host:port (drop tls.insecure), and check the port"},
	{[]string{"x509:", "tls: failed to verify certificate"},
		"the server's certificate is not trusted",
		"set tls.ca_file to the CA that signed it, or tls.server_name to the name it is issued for"},
	{[]string{"connection reset by peer", "broken pipe"},
		"the endpoint closed the connection",
		"check the TLS settings (the server may require a client certificate) and that the endpoint is an OTLP receiver"},
	{[]string{"tls: "},
		"the TLS handshake failed", "check the TLS settings of both sides (client certificate, versions)"},
	{[]string{"connection refused"},
		"connection refused", "nothing listens at the endpoint: check the host and port, and that the collector runs"},
	{[]string{"no such host"},
		"the endpoint's host does not resolve", "check the host name of the endpoint"},
	{[]string{"i/o timeout", "context deadline exceeded", "DeadlineExceeded"},
		"the endpoint does not answer in time", "check the network path to the endpoint, or raise the exporter's timeout"},
}

// Explain names the cause of a retryable export failure and what fixes it.
func Explain(err error) (cause, fix string) {
	msg := err.Error()
	for _, c := range wireCauses {
		for _, text := range c.texts {
			if strings.Contains(msg, text) {
				return c.cause, c.fix
			}
		}
	}
	if resilience.KindOf(err) == resilience.KindConfiguration {
		return "the destination rejects the exporter's configuration", resilience.SuggestionOf(err)
	}
	if fix := resilience.SuggestionOf(err); fix != "" {
		return "the destination is unavailable", fix
	}
	return "the destination is unavailable", "the export is retried; check the destination"
}
