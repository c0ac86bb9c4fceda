// Package clientconf holds the connection settings the OTLP client exporters share: TLS and
// request headers.
package clientconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
)

// TLS is the [...tls] table of a client exporter.
type TLS struct {
	// Insecure sends in clear text (gRPC). HTTP exporters follow the endpoint's scheme instead.
	Insecure bool `toml:"insecure"`
	// CAFile verifies the server with this PEM bundle instead of the system roots.
	CAFile string `toml:"ca_file"`
	// CertFile and KeyFile are the client certificate for mutual TLS; set both or neither.
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `toml:"server_name"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
}

// Validate checks the combination of keys; files are read by Load.
func (c TLS) Validate() error {
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		return errors.New("tls.key_file: required when tls.cert_file is set")
	case c.KeyFile != "" && c.CertFile == "":
		return errors.New("tls.cert_file: required when tls.key_file is set")
	case c.Insecure && (c.CAFile != "" || c.CertFile != "" || c.ServerName != "" || c.InsecureSkipVerify):
		return errors.New("tls.insecure: cannot be combined with ca_file, cert_file, key_file, server_name or insecure_skip_verify")
	}
	return nil
}

// Load reads the files and returns the client TLS configuration, or nil when Insecure.
func (c TLS) Load() (*tls.Config, error) {
	if c.Insecure {
		return nil, nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // explicit opt-in, documented as test-only
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Headers are sent with every request. Values often hold credentials, so a Headers value
// prints and logs its keys only.
type Headers map[string]string

// Validate refuses empty or malformed header names.
func (h Headers) Validate() error {
	for _, k := range h.Keys() {
		if k == "" || strings.ContainsAny(k, " \t\r\n:") {
			return fmt.Errorf("headers: invalid header name %q", k)
		}
		if strings.ContainsAny(h[k], "\r\n") {
			return fmt.Errorf("headers.%s: value contains a line break", k)
		}
	}
	return nil
}

// Keys returns the header names, sorted.
func (h Headers) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// String redacts the values.
func (h Headers) String() string {
	var b strings.Builder
	b.WriteString("map[")
	for i, k := range h.Keys() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteString(":<redacted>")
	}
	b.WriteByte(']')
	return b.String()
}

// GoString redacts the values under %#v too.
func (h Headers) GoString() string { return "clientconf.Headers" + h.String() }

// MarshalJSON redacts the values in JSON output (a config dump, slog's JSON handler).
func (h Headers) MarshalJSON() ([]byte, error) {
	red := make(map[string]string, len(h))
	for k := range h {
		red[k] = "<redacted>"
	}
	return json.Marshal(red)
}

// LogValue redacts the values in slog output.
func (h Headers) LogValue() slog.Value { return slog.StringValue(h.String()) }
