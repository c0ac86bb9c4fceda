package admin

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otlp-dev/otlp/internal/serverconf"
	"github.com/otlp-dev/otlp/internal/testutil"
)

func do(t *testing.T, c *http.Client, url string, mod func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func bearer(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAdminTLSAndAuth: the admin port serves HTTPS with its own certificate and requires its
// token on every route but the probes', a browser's basic auth included; a rotated certificate
// and token take effect on ReloadFiles.
func TestAdminTLSAndAuth(t *testing.T) {
	ca := testutil.NewCA(t)
	first := ca.Issue(t, "admin-1", "127.0.0.1")
	dir := t.TempDir()
	certFile, keyFile, tokenFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "token")
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(first.CertFile, certFile)
	copyFile(first.KeyFile, keyFile)
	writeToken(t, tokenFile, "s3cret-one")
	cfg := Config{Endpoint: "127.0.0.1:0", Pprof: true,
		TLS:  serverconf.TLS{CertFile: certFile, KeyFile: keyFile},
		Auth: serverconf.Auth{BearerTokenFile: tokenFile}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testutil.LogBuffer{}
	s := New(cfg, Settings{Logger: slog.New(slog.NewTextHandler(logs, nil)), Ready: func(context.Context) Report {
		return Report{Ready: true, Status: "healthy", Checks: []Check{{Name: "exporter/otlp", OK: true, Detail: "upstream.internal:4317"}}}
	}})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if line := logs.String(); !strings.Contains(line, "scheme=https") || !strings.Contains(line, "auth=true") {
		t.Errorf("start-up line does not say https and auth: %s", line)
	}
	base := "https://" + s.Addr().String()
	var served []string // certificates the server presented
	c := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, DisableKeepAlives: true, TLSClientConfig: &tls.Config{
		RootCAs: ca.Pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			served = append(served, cs.PeerCertificates[0].Subject.CommonName)
			return nil
		}}}}

	// Plaintext is refused: the port speaks TLS only.
	if resp, err := http.Get("http://" + s.Addr().String() + "/health"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plaintext /health answered 200: %s", body)
		}
	}

	if resp, body := do(t, c, base+"/health", nil); resp.StatusCode != 200 {
		t.Fatalf("/health without token = %d %s, want 200 (probes)", resp.StatusCode, body)
	}
	for _, path := range []string{"/metrics", "/", "/debug/pprof/"} {
		resp, body := do(t, c, base+path, nil)
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Header.Values("WWW-Authenticate")) != 2 {
			t.Fatalf("%s without token = %d %v %s, want 401 with Bearer and Basic challenges", path, resp.StatusCode, resp.Header, body)
		}
		if resp, _ := do(t, c, base+path, bearer("wrong")); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s with a wrong token = %d, want 401", path, resp.StatusCode)
		}
		if resp, body := do(t, c, base+path, bearer("s3cret-one")); resp.StatusCode != 200 {
			t.Fatalf("%s with the token = %d %s", path, resp.StatusCode, body)
		}
		basic := func(r *http.Request) { r.SetBasicAuth("anyone", "s3cret-one") }
		if resp, _ := do(t, c, base+path, basic); resp.StatusCode != 200 {
			t.Fatalf("%s with basic auth = %d, want 200 (a browser)", path, resp.StatusCode)
		}
	}
	readyChecks := func(mod func(*http.Request)) int {
		resp, body := do(t, c, base+"/ready", mod)
		var rep Report
		if err := json.Unmarshal([]byte(body), &rep); resp.StatusCode != 200 || err != nil || !rep.Ready {
			t.Fatalf("/ready = %d %s: %v", resp.StatusCode, body, err)
		}
		return len(rep.Checks)
	}
	if n := readyChecks(nil); n != 0 {
		t.Errorf("/ready without token shows %d checks, want the answer only", n)
	}
	if n := readyChecks(bearer("s3cret-one")); n != 1 {
		t.Errorf("/ready with token shows %d checks, want 1", n)
	}

	// Unchanged files: nothing to reload.
	if reloaded, err := s.ReloadFiles(); reloaded || err != nil {
		t.Fatalf("ReloadFiles with nothing changed = %v, %v", reloaded, err)
	}
	// A broken rotation keeps what is in use.
	writeToken(t, tokenFile, "")
	if _, err := s.ReloadFiles(); err == nil || !strings.Contains(err.Error(), "admin.auth.bearer_token_file") {
		t.Fatalf("ReloadFiles with an empty token file = %v", err)
	}
	if resp, _ := do(t, c, base+"/metrics", bearer("s3cret-one")); resp.StatusCode != 200 {
		t.Fatalf("after a failed reload the token in use was lost: %d", resp.StatusCode)
	}
	// Rotated certificate and token.
	second := ca.Issue(t, "admin-2", "127.0.0.1")
	copyFile(second.CertFile, certFile)
	copyFile(second.KeyFile, keyFile)
	writeToken(t, tokenFile, "s3cret-two")
	if reloaded, err := s.ReloadFiles(); !reloaded || err != nil {
		t.Fatalf("ReloadFiles after rotation = %v, %v", reloaded, err)
	}
	if resp, _ := do(t, c, base+"/metrics", bearer("s3cret-one")); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the old token still works after rotation: %d", resp.StatusCode)
	}
	served = nil
	if resp, _ := do(t, c, base+"/metrics", bearer("s3cret-two")); resp.StatusCode != 200 {
		t.Fatalf("the new token = %d", resp.StatusCode)
	}
	if len(served) != 1 || served[0] != "admin-2" {
		t.Fatalf("certificate served after rotation: %v, want admin-2", served)
	}
}

func TestAdminConfigChecks(t *testing.T) {
	bad := Config{Endpoint: "127.0.0.1:0", TLS: serverconf.TLS{CertFile: "c.pem"},
		Auth: serverconf.Auth{BearerToken: "x", BearerTokenFile: "f"}}
	err := bad.Validate()
	if err == nil || !strings.Contains(err.Error(), "tls.key_file") || !strings.Contains(err.Error(), "auth.bearer_token_file") {
		t.Fatalf("Validate = %v", err)
	}
	missing := Config{Endpoint: "127.0.0.1:0", TLS: serverconf.TLS{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}}
	if err := missing.CheckFiles(); err == nil || !strings.Contains(err.Error(), "admin.tls.cert_file") {
		t.Fatalf("CheckFiles with missing files = %v", err)
	}
	s := New(missing, Settings{})
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "admin.tls.cert_file") {
		t.Fatalf("Start with missing files = %v", err)
	}
}
