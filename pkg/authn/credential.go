package authn

import (
	"strings"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
)

// MaxCredentialLen is the longest credential (whole header value) looked
// at. Longer ones are refused before any parsing, crypto or lookup
// (SECURITY-CHECKLIST L 79).
const MaxCredentialLen = 4096

// Metadata keys (lower case, as gRPC sends them) and HTTP headers that
// carry a credential.
const (
	mdAuthorization = "authorization"
	mdAPIKey        = "x-api-key"
	// HeaderAPIKey is the HTTP header carrying a raw API key.
	HeaderAPIKey = "X-API-Key"
)

// Authorization schemes, compared case-insensitively (RFC 9110 §11.1).
const (
	schemeBearer = "bearer"
	schemeAPIKey = "apikey"
)

// credential is the one credential a request presented.
type credential struct {
	kind  authv1.CredentialKind
	value string
	// dpop: sent with the DPoP scheme (RFC 9449 §7.1).
	dpop bool
}

// extractCredential picks the request's credential from the values of
// Authorization and X-API-Key (HTTP headers or gRPC metadata):
//
//   - Authorization: Bearer <token>  → a JWT, or an API key if the token has
//     the shape of one (apikey.Looks);
//   - Authorization: ApiKey <key>    → an API key;
//   - X-API-Key: <key>               → an API key.
//
// More than one value in total is invalid_request (RFC 6750 §2: one method
// only). Nothing at all is a missing credential.
func extractCredential(authz, apiKeys []string) (credential, *AuthError) {
	switch n := len(authz) + len(apiKeys); {
	case n == 0:
		return credential{}, errMissingCredential()
	case n > 1:
		return credential{}, errMultipleCredentials()
	}
	if len(authz) == 1 {
		return parseAuthorization(authz[0])
	}
	v := apiKeys[0]
	if len(v) > MaxCredentialLen {
		return credential{}, errTooLarge()
	}
	v = trimOWS(v)
	if v == "" || strings.ContainsAny(v, " \t") {
		return credential{}, errMalformed()
	}
	return credential{kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, value: v}, nil
}

// parseAuthorization parses `<scheme> 1*SP <token>` (RFC 9110 §11.4).
func parseAuthorization(v string) (credential, *AuthError) {
	if len(v) > MaxCredentialLen {
		return credential{}, errTooLarge()
	}
	v = trimOWS(v)
	scheme, token, _ := strings.Cut(v, " ")
	token = strings.TrimLeft(token, " ")
	switch {
	case strings.EqualFold(scheme, schemeBearer):
		// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
		if !isB64Token(token) {
			return credential{}, errMalformed()
		}
		if apikey.Looks(token) {
			return credential{kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, value: token}, nil
		}
		return credential{kind: authv1.CredentialKind_CREDENTIAL_KIND_JWT, value: token}, nil
	case strings.EqualFold(scheme, schemeDPoP):
		// RFC 9449 §7.1: token68, as for Bearer; only access tokens are
		// DPoP-bound, never an API key.
		if !isB64Token(token) || apikey.Looks(token) {
			return credential{}, errMalformed()
		}
		return credential{kind: authv1.CredentialKind_CREDENTIAL_KIND_JWT, value: token, dpop: true}, nil
	case strings.EqualFold(scheme, schemeAPIKey):
		if !isB64Token(token) {
			return credential{}, errMalformed()
		}
		return credential{kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY, value: token}, nil
	case scheme == "":
		return credential{}, errMalformed()
	default:
		return credential{}, errUnsupportedCredential("unsupported authorization scheme")
	}
}

func errTooLarge() *AuthError {
	return NewInvalidCredential(audit.ReasonCredentialTooLarge, "", "credential too large")
}

func errMalformed() *AuthError {
	return NewInvalidCredential(audit.ReasonMalformedCredential, "", "malformed credential")
}

// isB64Token reports whether s is an RFC 6750 §2.1 b64token.
func isB64Token(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// trimOWS removes optional whitespace (SP / HTAB, RFC 9110 §5.6.3) around v.
func trimOWS(v string) string {
	return strings.Trim(v, " \t")
}
