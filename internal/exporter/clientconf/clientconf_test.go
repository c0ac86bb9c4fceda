package clientconf_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/otlp-dev/otlp/internal/exporter/clientconf"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTLSValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  clientconf.TLS
		want string
	}{
		{"empty", clientconf.TLS{}, ""},
		{"insecure", clientconf.TLS{Insecure: true}, ""},
		{"cert without key", clientconf.TLS{CertFile: "c.pem"}, "tls.key_file:"},
		{"key without cert", clientconf.TLS{KeyFile: "k.pem"}, "tls.cert_file:"},
		{"insecure with ca", clientconf.TLS{Insecure: true, CAFile: "ca.pem"}, "tls.insecure:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), tt.want)) {
				t.Errorf("Validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestTLSLoad(t *testing.T) {
	ca := testutil.NewCA(t)
	client := ca.Issue(t, "client")
	cfg, err := clientconf.TLS{CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile, ServerName: "collector"}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs == nil || len(cfg.Certificates) != 1 || cfg.ServerName != "collector" {
		t.Errorf("loaded %+v", cfg)
	}
	if cfg, err := (clientconf.TLS{Insecure: true}).Load(); cfg != nil || err != nil {
		t.Errorf("insecure: %v %v, want nil nil", cfg, err)
	}
	if _, err := (clientconf.TLS{CAFile: client.KeyFile}).Load(); err == nil || !strings.HasPrefix(err.Error(), "tls.ca_file:") {
		t.Errorf("a key as CA: %v", err)
	}
	if _, err := (clientconf.TLS{CertFile: client.CertFile, KeyFile: ca.CertFile}).Load(); err == nil || !strings.HasPrefix(err.Error(), "tls.cert_file:") {
		t.Errorf("mismatched key: %v", err)
	}
}

func TestHeadersRedacted(t *testing.T) {
	h := clientconf.Headers{"authorization": "Bearer s3cret", "x-tenant": "t1"}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "headers", h, "struct", struct{ H clientconf.Headers }{h})
	for _, s := range []string{fmt.Sprint(h), fmt.Sprintf("%v %+v %#v %s", h, h, h, h), logs.String()} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, "t1") {
			t.Errorf("value leaked: %s", s)
		}
		if !strings.Contains(s, "authorization") {
			t.Errorf("keys missing: %s", s)
		}
	}
	if err := (clientconf.Headers{"bad name": "x"}).Validate(); err == nil {
		t.Error("a header name with a space was accepted")
	}
	if err := (clientconf.Headers{"x": "a\r\nb"}).Validate(); err == nil {
		t.Error("a header value with CRLF was accepted")
	}
}
