package token

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// metadataDoc is the RFC 8414 §2 document, and with the OpenID Connect
// fields the Discovery 1.0 §3 document: both are built from one source
// (buildMetadata), and list only what the service implements:
//   - grant_types_supported: client_credentials, and with the
//     authorization endpoint authorization_code and refresh_token (never
//     password or implicit — RFC 9700 §2.1.2, §2.4);
//   - response_types_supported: code, or the empty list without an
//     authorization endpoint;
//   - the client authentication methods: exactly those accepted;
//   - code_challenge_methods_supported: S256 only;
//   - revocation_endpoint (RFC 7009) when the service has a Revoker;
//   - the OpenID Connect fields only in the OpenID Connect document, so
//     the RFC 8414 one keeps its content.
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
	// RFC 9449 §5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// RFC 9126 §5: listed, false or true, with the authorization endpoint.
	PushedAuthorizationRequestEndpoint string `json:"pushed_authorization_request_endpoint,omitempty"`
	RequirePushedAuthorizationRequests *bool  `json:"require_pushed_authorization_requests,omitempty"`
	*oidcMetadata
}

// oidcMetadata are the OpenID Connect Discovery 1.0 §3 fields (and those of
// RP-Initiated Logout §2.1 and Back-Channel Logout §2.1).
type oidcMetadata struct {
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	ClaimsParameterSupported          bool     `json:"claims_parameter_supported"`
	RequestParameterSupported         bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
}

// idTokenClaimNames are the claims an ID token or UserInfo may carry.
var idTokenClaimNames = []string{
	"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "azp", "at_hash", "sid", "amr", "jti",
	"name", "given_name", "family_name", "preferred_username", "locale", "updated_at",
	"email", "email_verified",
}

// buildDiscovery returns the RFC 8414 document and, with an authorization
// endpoint, the OpenID Connect one; without one, both URLs serve the first.
func buildDiscovery(cfg Config, ep Endpoints) (oauth, oidc []byte, err error) {
	if oauth, err = buildMetadata(cfg, ep, false); err != nil || ep.Authorization == "" {
		return oauth, oauth, err
	}
	oidc, err = buildMetadata(cfg, ep, true)
	return oauth, oidc, err
}

// authMethods are the client authentication methods the token and
// introspection endpoints accept (clientauth.go).
var authMethods = []string{authSecretBasic, authSecretPost}

func buildMetadata(cfg Config, ep Endpoints, withOIDC bool) ([]byte, error) {
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
		DPoPSigningAlgValuesSupported:             dpopAlgorithms(cfg),
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
		doc.PushedAuthorizationRequestEndpoint = ep.PushedAuthorization
		if doc.MTLSEndpointAliases != nil {
			// An mTLS client authenticates at the PAR endpoint as at the
			// token endpoint: with its certificate, on the mTLS listener.
			doc.MTLSEndpointAliases["pushed_authorization_request_endpoint"] = cfg.MTLSBase + issuerPath(cfg.Issuer) + parPath
		}
		doc.RequirePushedAuthorizationRequests = &cfg.RequirePAR
	}
	doc.TokenEndpointAuthMethodsSupported = methods
	if doc.RevocationEndpoint != "" {
		doc.RevocationEndpointAuthMethodsSupported = methods
	}
	if withOIDC {
		doc.ScopesSupported = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(cfg.ScopesSupported), oidcScopes...))))
		doc.oidcMetadata = &oidcMetadata{
			UserinfoEndpoint:                  ep.UserInfo,
			EndSessionEndpoint:                ep.EndSession,
			SubjectTypesSupported:             []string{"public"},
			IDTokenSigningAlgValuesSupported:  []string{cfg.SigningAlg},
			ClaimsSupported:                   idTokenClaimNames,
			ResponseModesSupported:            []string{"query"},
			PromptValuesSupported:             []string{"none", "login", "consent"},
			BackchannelLogoutSupported:        true,
			BackchannelLogoutSessionSupported: true,
		}
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

// handleMetadata serves the prepared RFC 8414 document (§3.2).
func (s *Service) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", headerCacheControlMetadata)
	writeJSON(w, http.StatusOK, s.metadata)
}

// handleDiscovery serves the prepared OpenID Connect document (Discovery
// 1.0 §4.2).
func (s *Service) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", headerCacheControlMetadata)
	writeJSON(w, http.StatusOK, s.oidcMetadata)
}
