package receiver

import (
	"context"
	"crypto/tls"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/otlp-dev/otlp/internal/pipeline"
)

func loadConfig(t *testing.T, name string) Config {
	t.Helper()
	cfg := NewDefaultConfig()
	md, err := toml.DecodeFile(filepath.Join("testdata", name), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Fatalf("unknown keys %v", u)
	}
	return cfg
}

func TestDefaultConfig(t *testing.T) {
	cfg := NewDefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.GRPC.Endpoint != "localhost:4317" || cfg.HTTP.Endpoint != "localhost:4318" ||
		cfg.GRPC.MaxRecvMsgSizeMiB != 16 || cfg.HTTP.MaxRequestBodyMiB != 16 || cfg.GRPC.MaxConcurrentStreams != 100 {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestConfigFiles(t *testing.T) {
	full := loadConfig(t, "full.toml")
	want := Config{
		GRPC:    GRPCConfig{Endpoint: "127.0.0.1:14317", MaxRecvMsgSizeMiB: 32, MaxConcurrentStreams: 50, MaxConnectionIdle: DefaultMaxConnectionIdle},
		HTTP:    HTTPConfig{Endpoint: "127.0.0.1:14318", MaxRequestBodyMiB: 8, MaxConcurrentRequests: 64},
		TLS:     TLSConfig{CertFile: "server.crt", KeyFile: "server.key", ClientCAFile: "ca.crt", MinVersion: "1.3"},
		Auth:    AuthConfig{BearerTokenFile: "token"},
		MaxWait: DefaultMaxWait,
	}
	if full != want {
		t.Fatalf("full.toml = %+v\nwant %+v", full, want)
	}
	if err := full.Validate(); err != nil {
		t.Fatal(err)
	}

	httpOnly := loadConfig(t, "http_only.toml")
	if httpOnly.GRPC.Endpoint != "" || httpOnly.HTTP.Endpoint != "localhost:4318" || httpOnly.HTTP.MaxRequestBodyMiB != 16 {
		t.Fatalf("http_only.toml = %+v", httpOnly)
	}
	if err := httpOnly.Validate(); err != nil {
		t.Fatal(err)
	}

	err := loadConfig(t, "invalid.toml").Validate()
	if err == nil {
		t.Fatal("invalid.toml validated")
	}
	for _, key := range []string{"grpc.endpoint:", "grpc.max_recv_msg_size_mib:", "http.max_concurrent_requests:",
		"tls.key_file: required when cert_file is set", "tls.min_version:", "auth.bearer_token_file:"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %q", err, key)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"grpc off", func(c *Config) { c.GRPC = GRPCConfig{} }, ""},
		{"http off", func(c *Config) { c.HTTP = HTTPConfig{} }, ""},
		{"both off", func(c *Config) { c.GRPC.Endpoint, c.HTTP.Endpoint = "", "" }, "grpc.endpoint: grpc.endpoint and http.endpoint are both empty"},
		{"no port", func(c *Config) { c.GRPC.Endpoint = "localhost" }, `grpc.endpoint: "localhost" is not host:port`},
		{"bad port", func(c *Config) { c.HTTP.Endpoint = ":99999" }, `http.endpoint: port "99999"`},
		{"ipv6", func(c *Config) { c.HTTP.Endpoint = "[::1]:4318" }, ""},
		{"port 0", func(c *Config) { c.HTTP.Endpoint = "127.0.0.1:0" }, ""},
		{"msg size", func(c *Config) { c.GRPC.MaxRecvMsgSizeMiB = 4096 }, "grpc.max_recv_msg_size_mib: must be between 1 and 2047"},
		{"streams", func(c *Config) { c.GRPC.MaxConcurrentStreams = 0 }, "grpc.max_concurrent_streams: must be at least 1"},
		{"body", func(c *Config) { c.HTTP.MaxRequestBodyMiB = 0 }, "http.max_request_body_mib: must be between 1 and 2047"},
		{"concurrency", func(c *Config) { c.HTTP.MaxConcurrentRequests = -1 }, "http.max_concurrent_requests: must not be negative"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "a" }, "tls.key_file: required when cert_file is set"},
		{"key without cert", func(c *Config) { c.TLS.KeyFile = "a" }, "tls.cert_file: required when key_file is set"},
		{"ca without cert", func(c *Config) { c.TLS.ClientCAFile = "a" }, "tls.client_ca_file: requires cert_file"},
		{"tls 1.1", func(c *Config) { c.TLS.MinVersion = "1.1" }, `tls.min_version: "1.1" is not supported`},
		{"tls 1.3", func(c *Config) { c.TLS = TLSConfig{CertFile: "a", KeyFile: "b", MinVersion: "1.3"} }, ""},
		{"two tokens", func(c *Config) { c.Auth = AuthConfig{BearerToken: "a", BearerTokenFile: "b"} }, "auth.bearer_token_file: cannot be set together with auth.bearer_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewDefaultConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if _, err := New(cfg, Settings{}); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestNewReportsUnreadableFiles(t *testing.T) {
	dir := t.TempDir()
	pki := newCerts(t)
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"missing cert", func(c *Config) { c.TLS = TLSConfig{CertFile: dir + "/nope.crt", KeyFile: pki.serverKey} }, "tls.cert_file"},
		{"key mismatch", func(c *Config) { c.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.clientKey} }, "tls.cert_file"},
		{"missing ca", func(c *Config) {
			c.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: dir + "/nope.crt"}
		}, "tls.client_ca_file"},
		{"ca not pem", func(c *Config) {
			c.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.serverKey}
		}, "tls.client_ca_file: no PEM certificate"},
		{"missing token file", func(c *Config) { c.Auth.BearerTokenFile = dir + "/token" }, "auth.bearer_token_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.cfg(&cfg)
			if _, err := New(cfg, Settings{}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestTLSRefusesUntrustedClients(t *testing.T) {
	pki := newCerts(t)
	cfg := testConfig()
	cfg.TLS = TLSConfig{CertFile: pki.serverCert, KeyFile: pki.serverKey, ClientCAFile: pki.caFile, MinVersion: "1.3"}
	s := newSink()
	r := startReceiver(t, cfg, s)
	noCert := &tls.Config{RootCAs: pki.pool, MinVersion: tls.VersionTLS12}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: noCert}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, httpURL(r, pipeline.SignalTraces, "https"), strings.NewReader(""))
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("mTLS server accepted a client without certificate")
	}
	if _, err := exportGRPC(context.Background(), grpcClient(t, r.GRPCAddr(), noCert), pipeline.SignalTraces, nil); err == nil {
		t.Fatal("mTLS gRPC server accepted a client without certificate")
	}
	plain := http.Client{}
	if resp, err := plain.Post(httpURL(r, pipeline.SignalTraces, "http"), ctProtobuf, strings.NewReader("")); err == nil {
		if resp.StatusCode == 200 {
			t.Fatal("TLS server answered plaintext HTTP with 200")
		}
		resp.Body.Close()
	}
	withCert := noCert.Clone()
	withCert.Certificates = []tls.Certificate{pki.client}
	if _, err := exportGRPC(context.Background(), grpcClient(t, r.GRPCAddr(), withCert), pipeline.SignalTraces, tracesBody(t, 1, 0)); err != nil {
		t.Fatalf("client with certificate: %v", err)
	}
	if s.count(pipeline.SignalTraces) != 1 {
		t.Fatal("span not delivered")
	}
}
