package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// Metadata is what a resource server reads from the issuer's discovery
// document (OpenID Connect Discovery 1.0 §3, RFC 8414 §2).
type Metadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	// MTLSEndpointAliases holds the token endpoint on the mTLS listener
	// (RFC 8705 §5), for certificate-authenticated clients.
	MTLSEndpointAliases struct {
		TokenEndpoint string `json:"token_endpoint"`
	} `json:"mtls_endpoint_aliases"`
}

// maxMetadataBytes bounds the discovery document read.
const maxMetadataBytes = 256 << 10

// Discover reads issuer's discovery document: OpenID Connect's
// /.well-known/openid-configuration, or RFC 8414's
// /.well-known/oauth-authorization-server when there is none. The issuer
// it names must be issuer exactly (RFC 8414 §3.3: no other server can
// stand in for it), and issuer must be https except on a loopback host.
func Discover(ctx context.Context, hc *http.Client, issuer string) (*Metadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("resourceserver: issuer %q is not an absolute URL without query or fragment", issuer)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !loopback.Host(u.Hostname())) {
		return nil, fmt.Errorf("resourceserver: issuer %q must be https (http only on a loopback host)", issuer)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimSuffix(issuer, "/")
	var errs []error
	for _, doc := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		m, err := fetchMetadata(ctx, hc, base+doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Issuer != issuer {
			return nil, fmt.Errorf("resourceserver: %s names issuer %q, want %q", base+doc, m.Issuer, issuer)
		}
		if m.JWKSURI == "" {
			return nil, fmt.Errorf("resourceserver: %s has no jwks_uri", base+doc)
		}
		return m, nil
	}
	return nil, fmt.Errorf("resourceserver: discovery: %w", errors.Join(errs...))
}

func fetchMetadata(ctx context.Context, hc *http.Client, docURL string) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, docURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", docURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", docURL, err)
	}
	m := &Metadata{}
	if err := json.Unmarshal(body, m); err != nil {
		return nil, fmt.Errorf("GET %s: not a metadata document: %w", docURL, err)
	}
	return m, nil
}
