package receiver

import (
	"errors"
	"net"
	"strconv"
	"time"

	"github.com/otlp-dev/otlp/internal/serverconf"
)

// Config is the user-facing configuration of the OTLP receiver ([receivers.otlp] in TOML).
type Config struct {
	GRPC GRPCConfig `toml:"grpc"`
	HTTP HTTPConfig `toml:"http"`
	// TLS is shared by both transports; empty means plaintext.
	TLS TLSConfig `toml:"tls"`
	// Auth optionally requires a bearer token on every request.
	Auth AuthConfig `toml:"auth"`
	// MaxWait bounds how long a request waits for room in a full pipeline before it is answered
	// 429 / RESOURCE_EXHAUSTED with a retry delay (the sender keeps its data and retries); 0
	// waits as long as the sender does.
	MaxWait time.Duration `toml:"max_wait"`
}

// GRPCConfig configures OTLP/gRPC.
type GRPCConfig struct {
	// Endpoint is the listen address, "localhost:4317" by default; empty disables gRPC.
	Endpoint string `toml:"endpoint"`
	// MaxRecvMsgSizeMiB bounds one request message (16).
	MaxRecvMsgSizeMiB int `toml:"max_recv_msg_size_mib"`
	// MaxConcurrentStreams bounds concurrent RPCs per connection (100).
	MaxConcurrentStreams uint32 `toml:"max_concurrent_streams"`
	// MaxConnectionIdle closes a connection that carried no RPC for this long (10m; 0: never).
	MaxConnectionIdle time.Duration `toml:"max_connection_idle"`
}

// HTTPConfig configures OTLP/HTTP.
type HTTPConfig struct {
	// Endpoint is the listen address, "localhost:4318" by default; empty disables HTTP.
	Endpoint string `toml:"endpoint"`
	// MaxRequestBodyMiB bounds a request body, both as sent and once decompressed (16).
	MaxRequestBodyMiB int `toml:"max_request_body_mib"`
	// MaxConcurrentRequests bounds requests handled at once; those over it get 503 with
	// Retry-After. 0 means no limit.
	MaxConcurrentRequests int `toml:"max_concurrent_requests"`
}

// TLSConfig configures server-side TLS for both transports.
type TLSConfig = serverconf.TLS

// AuthConfig configures bearer-token authentication. At most one field may be set.
type AuthConfig = serverconf.Auth

// Default limits.
const (
	DefaultGRPCEndpoint         = "localhost:4317"
	DefaultHTTPEndpoint         = "localhost:4318"
	DefaultMaxMessageMiB        = 16
	DefaultMaxConcurrentStreams = 100
	DefaultMaxWait              = 5 * time.Second
	DefaultMaxConnectionIdle    = 10 * time.Minute
	maxMiB                      = 2047 // sizes are ints in bytes and gRPC's limit is an int32
)

// NewDefaultConfig returns the configuration used for what a file leaves out.
func NewDefaultConfig() Config {
	return Config{
		GRPC: GRPCConfig{
			Endpoint:             DefaultGRPCEndpoint,
			MaxRecvMsgSizeMiB:    DefaultMaxMessageMiB,
			MaxConcurrentStreams: DefaultMaxConcurrentStreams,
			MaxConnectionIdle:    DefaultMaxConnectionIdle,
		},
		HTTP: HTTPConfig{
			Endpoint:          DefaultHTTPEndpoint,
			MaxRequestBodyMiB: DefaultMaxMessageMiB,
		},
		MaxWait: DefaultMaxWait,
	}
}

// Validate checks the configuration without touching files or the network. Each error names
// its key relative to the receiver ("tls.key_file: required when cert_file is set"); the
// config package prefixes it with "receivers.<name>.".
func (c Config) Validate() error {
	var errs []error
	bad := func(key, problem string) { errs = append(errs, errors.New(key+": "+problem)) }

	if c.GRPC.Endpoint == "" && c.HTTP.Endpoint == "" {
		bad("grpc.endpoint", "grpc.endpoint and http.endpoint are both empty: nothing to serve")
	}
	if c.GRPC.MaxConnectionIdle < 0 {
		bad("grpc.max_connection_idle", "must be >= 0, got "+c.GRPC.MaxConnectionIdle.String())
	}
	if c.MaxWait < 0 {
		bad("max_wait", "must be >= 0, got "+c.MaxWait.String())
	}
	if c.GRPC.Endpoint != "" {
		if err := checkEndpoint(c.GRPC.Endpoint); err != nil {
			bad("grpc.endpoint", err.Error())
		}
		if c.GRPC.MaxRecvMsgSizeMiB < 1 || c.GRPC.MaxRecvMsgSizeMiB > maxMiB {
			bad("grpc.max_recv_msg_size_mib", "must be between 1 and "+strconv.Itoa(maxMiB))
		}
		if c.GRPC.MaxConcurrentStreams == 0 {
			bad("grpc.max_concurrent_streams", "must be at least 1")
		}
	}
	if c.HTTP.Endpoint != "" {
		if err := checkEndpoint(c.HTTP.Endpoint); err != nil {
			bad("http.endpoint", err.Error())
		}
		if c.HTTP.MaxRequestBodyMiB < 1 || c.HTTP.MaxRequestBodyMiB > maxMiB {
			bad("http.max_request_body_mib", "must be between 1 and "+strconv.Itoa(maxMiB))
		}
		if c.HTTP.MaxConcurrentRequests < 0 {
			bad("http.max_concurrent_requests", "must not be negative (0 means no limit)")
		}
	}

	errs = append(errs, c.TLS.Validate(), c.Auth.Validate())
	return errors.Join(errs...)
}

func checkEndpoint(ep string) error {
	_, port, err := net.SplitHostPort(ep)
	if err != nil {
		return errors.New(strconv.Quote(ep) + " is not host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return errors.New("port " + strconv.Quote(port) + " is not a number between 0 and 65535")
	}
	return nil
}

// Files returns the paths of the files the receiver reads at start (TLS certificate, key and
// client CA, token file), so that a reload can tell a rotated file from an unchanged one.
func (c Config) Files() []string {
	return append(c.TLS.Files(), c.Auth.Files()...)
}
