package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// metadataDoc is the RFC 8414 §2 document. It lists only what this service
// implements today:
//   - grant_types_supported: client_credentials only (no password, no
//     implicit — RFC 9700 §2.1.2, §2.4);
//   - the auth methods: exactly the two accepted;
//   - response_types_supported is REQUIRED by RFC 8414 but there is no
//     authorization endpoint yet, so it is the empty list; ["code"] (and
//     authorization_endpoint, authorization_response_iss_parameter_supported)
//     come with the authorization_code issue;
//   - code_challenge_methods_supported: ["S256"] now, as the issue asks
//     (PKCE will be S256 only);
//   - revocation_endpoint (RFC 7009) when the service has a Revoker, with
//     the same client authentication methods.
type metadataDoc struct {
	Issuer                                    string   `json:"issuer"`
	AuthorizationEndpoint                     string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                             string   `json:"token_endpoint"`
	IntrospectionEndpoint                     string   `json:"introspection_endpoint"`
	JWKSURI                                   string   `json:"jwks_uri"`
	ScopesSupported                           []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                    []string `json:"response_types_supported"`
	GrantTypesSupported                       []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported         []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                        string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported    []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported             []string `json:"code_challenge_methods_supported"`
	// RFC 9207: iss in every authorization response.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// RFC 8705 §3.3 and §5.
	TLSClientCertificateBoundAccessTokens bool              `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	MTLSEndpointAliases                   map[string]string `json:"mtls_endpoint_aliases,omitempty"`
}

// authMethods are the client authentication methods the token and
// introspection endpoints accept (clientauth.go).
var authMethods = []string{authSecretBasic, authSecretPost}

func buildMetadata(cfg Config, ep Endpoints) ([]byte, error) {
	doc := metadataDoc{
		Issuer:                            cfg.Issuer,
		TokenEndpoint:                     ep.Token,
		IntrospectionEndpoint:             ep.Introspection,
		JWKSURI:                           ep.JWKS,
		ScopesSupported:                   cfg.ScopesSupported,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{grantClientCredentials},
		TokenEndpointAuthMethodsSupported: authMethods,
		IntrospectionEndpointAuthMethodsSupported: authMethods,
		CodeChallengeMethodsSupported:             []string{"S256"},
	}
	if ep.Revocation != "" {
		doc.RevocationEndpoint = ep.Revocation
		doc.RevocationEndpointAuthMethodsSupported = authMethods
	}
	methods := slices.Clone(authMethods)
	if cfg.ClientCerts != nil {
		methods = append(methods, authTLSClient, authSelfSignedTLSClient)
		doc.TLSClientCertificateBoundAccessTokens = true
		if cfg.MTLSBase != "" {
			p := issuerPath(cfg.Issuer)
			doc.MTLSEndpointAliases = map[string]string{
				"token_endpoint":         cfg.MTLSBase + p + tokenPath,
				"introspection_endpoint": cfg.MTLSBase + p + introspectPath,
			}
			if ep.Revocation != "" {
				doc.MTLSEndpointAliases["revocation_endpoint"] = cfg.MTLSBase + p + revokePath
			}
		}
	}
	if ep.Authorization != "" {
		// The authorization-code flow: code only, never a token in the
		// front channel (RFC 9700 §2.1.2); public clients authenticate
		// with none at the token and revocation endpoints.
		doc.AuthorizationEndpoint = ep.Authorization
		doc.ResponseTypesSupported = []string{"code"}
		doc.GrantTypesSupported = []string{grantAuthorizationCode, grantClientCredentials, grantRefreshToken}
		methods = append(methods, authNone)
		doc.AuthorizationResponseIssParameterSupported = true
	}
	doc.TokenEndpointAuthMethodsSupported = methods
	if doc.RevocationEndpoint != "" {
		doc.RevocationEndpointAuthMethodsSupported = methods
	}
	// No HTML escaping: the issuer must come out byte for byte (RFC 8414
	// §3.3).
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("token: metadata: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// handleMetadata serves the prepared document (RFC 8414 §3.2).
func (s *Service) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", headerCacheControlMetadata)
	writeJSON(w, http.StatusOK, s.metadata)
}
