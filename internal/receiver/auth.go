package receiver

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"os"
	"strings"
)

// bearerAuth checks "Authorization: Bearer <token>". It keeps only the token's SHA-256, and
// compares digests in constant time, so neither the token nor its length leaks through timing.
type bearerAuth struct {
	on  bool
	sum [sha256.Size]byte
}

func newBearerAuth(c AuthConfig) (bearerAuth, error) {
	token := c.BearerToken
	if c.BearerTokenFile != "" {
		b, err := os.ReadFile(c.BearerTokenFile)
		if err != nil {
			return bearerAuth{}, fmt.Errorf("auth.bearer_token_file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return bearerAuth{}, fmt.Errorf("auth.bearer_token_file: %s is empty", c.BearerTokenFile)
		}
	}
	if token == "" {
		return bearerAuth{}, nil
	}
	return bearerAuth{on: true, sum: sha256.Sum256([]byte(token))}, nil
}

// allow reports whether an Authorization header value carries the token. Always true when
// auth is off.
func (a *bearerAuth) allow(header string) bool {
	if !a.on {
		return true
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], a.sum[:]) == 1
}
