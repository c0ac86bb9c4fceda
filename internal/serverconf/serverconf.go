// Package serverconf holds the server-side TLS and bearer-token settings shared by the OTLP
// receivers and the admin port, so that both read the same keys and check them the same way.
package serverconf

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// TLS configures server-side TLS.
type TLS struct {
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// ClientCAFile, when set, makes client certificates signed by these CAs mandatory (mTLS).
	ClientCAFile string `toml:"client_ca_file"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `toml:"min_version"`
}

var tlsVersions = map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// Enabled reports whether a certificate is configured.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Validate reports the keys (as tls.<key>) that are inconsistent, without reading files.
func (t TLS) Validate() error {
	var errs []error
	bad := func(key, problem string) { errs = append(errs, errors.New("tls."+key+": "+problem)) }
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		bad("key_file", "required when cert_file is set")
	case t.KeyFile != "" && t.CertFile == "":
		bad("cert_file", "required when key_file is set")
	}
	if t.ClientCAFile != "" && t.CertFile == "" {
		bad("client_ca_file", "requires cert_file and key_file (mTLS needs server TLS)")
	}
	if _, ok := tlsVersions[t.MinVersion]; !ok {
		bad("min_version", strconv.Quote(t.MinVersion)+` is not supported (want "1.2" or "1.3")`)
	}
	return errors.Join(errs...)
}

// Load builds the server TLS configuration: nil, nil when no certificate is configured
// (plaintext). With ClientCAFile set, clients must present a certificate signed by one of
// those CAs. Errors name the key of the file that failed.
func (t TLS) Load() (*tls.Config, error) {
	if !t.Enabled() {
		if t.ClientCAFile != "" {
			return nil, errors.New("tls.client_ca_file: requires cert_file and key_file")
		}
		return nil, nil
	}
	minVersion, ok := tlsVersions[t.MinVersion]
	if !ok {
		return nil, fmt.Errorf("tls.min_version: %q is not supported", t.MinVersion)
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file, tls.key_file: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minVersion}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.client_ca_file: no PEM certificate in %s", t.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Files returns the files Load reads.
func (t TLS) Files() []string { return nonEmpty(t.CertFile, t.KeyFile, t.ClientCAFile) }

// Auth configures bearer-token authentication. At most one field may be set.
type Auth struct {
	BearerToken string `toml:"bearer_token" secret:"true"`
	// BearerTokenFile holds the token; surrounding white space is ignored.
	BearerTokenFile string `toml:"bearer_token_file" secret:"true"`
}

// Validate reports both fields set.
func (a Auth) Validate() error {
	if a.BearerToken != "" && a.BearerTokenFile != "" {
		return errors.New("auth.bearer_token_file: cannot be set together with auth.bearer_token")
	}
	return nil
}

// Files returns the file Bearer reads.
func (a Auth) Files() []string { return nonEmpty(a.BearerTokenFile) }

// Bearer checks "Authorization: Bearer <token>". It keeps only the token's SHA-256, and
// compares digests in constant time, so neither the token nor its length leaks through timing.
// The zero value lets everything through.
type Bearer struct {
	on  bool
	sum [sha256.Size]byte
}

// NewBearer reads the token (from the file when one is named); no token: auth off. An empty
// token file is an error, never auth off.
func NewBearer(a Auth) (Bearer, error) {
	token := a.BearerToken
	if a.BearerTokenFile != "" {
		b, err := os.ReadFile(a.BearerTokenFile)
		if err != nil {
			return Bearer{}, fmt.Errorf("auth.bearer_token_file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return Bearer{}, fmt.Errorf("auth.bearer_token_file: %s is empty", a.BearerTokenFile)
		}
	}
	if token == "" {
		return Bearer{}, nil
	}
	return Bearer{on: true, sum: sha256.Sum256([]byte(token))}, nil
}

// On reports whether a token is required.
func (b *Bearer) On() bool { return b.on }

// Allow reports whether an Authorization header value carries the token. Always true when
// auth is off.
func (b *Bearer) Allow(header string) bool {
	if !b.on {
		return true
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], b.sum[:]) == 1
}

func nonEmpty(files ...string) []string {
	var out []string
	for _, f := range files {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Digest identifies the contents of files (a file that cannot be read counts by its error), so
// that a reload can tell a rotated certificate or token from an unchanged one.
func Digest(files []string) string {
	if len(files) == 0 {
		return ""
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			b = []byte(err.Error())
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
