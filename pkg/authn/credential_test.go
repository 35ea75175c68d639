package authn

import (
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"google.golang.org/grpc/codes"
)

func TestExtractCredential(t *testing.T) {
	key := unregisteredKey(t)
	const (
		jwt    = authv1.CredentialKind_CREDENTIAL_KIND_JWT
		apiKey = authv1.CredentialKind_CREDENTIAL_KIND_API_KEY
	)
	tests := []struct {
		name       string
		authz      []string
		apiKeys    []string
		wantKind   authv1.CredentialKind
		wantValue  string
		wantCode   codes.Code
		wantReason audit.Reason
		wantOAuth  string
	}{
		{name: "nothing", wantCode: codes.Unauthenticated, wantReason: audit.ReasonMissingCredential},
		{name: "bearer jwt", authz: []string{"Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}, wantKind: jwt, wantValue: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"},
		{name: "bearer lower case", authz: []string{"bearer abc"}, wantKind: jwt, wantValue: "abc"},
		{name: "bearer upper case", authz: []string{"BEARER abc"}, wantKind: jwt, wantValue: "abc"},
		{name: "bearer padding", authz: []string{"Bearer abc=="}, wantKind: jwt, wantValue: "abc=="},
		{name: "bearer extra spaces", authz: []string{"  Bearer   abc \t"}, wantKind: jwt, wantValue: "abc"},
		{name: "bearer with api key", authz: []string{"Bearer " + key}, wantKind: apiKey, wantValue: key},
		{name: "apikey scheme", authz: []string{"ApiKey " + key}, wantKind: apiKey, wantValue: key},
		{name: "apikey scheme any case", authz: []string{"aPIkEY " + key}, wantKind: apiKey, wantValue: key},
		{name: "x-api-key", apiKeys: []string{key}, wantKind: apiKey, wantValue: key},
		{name: "x-api-key trimmed", apiKeys: []string{" " + key + " "}, wantKind: apiKey, wantValue: key},
		{name: "bearer without token", authz: []string{"Bearer"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "bearer with space only", authz: []string{"Bearer "}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "bearer two tokens", authz: []string{"Bearer a b"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "bearer bad characters", authz: []string{"Bearer a\"b"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "bearer padding inside", authz: []string{"Bearer a=b"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "apikey without key", authz: []string{"ApiKey"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "empty authorization", authz: []string{""}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "empty x-api-key", apiKeys: []string{""}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "x-api-key with space", apiKeys: []string{"a b"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonMalformedCredential, wantOAuth: ErrInvalidToken},
		{name: "basic", authz: []string{"Basic dXNlcjpwYXNz"}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonUnsupportedCredential},
		{name: "token without scheme", authz: []string{key}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonUnsupportedCredential},
		{name: "two authorization", authz: []string{"Bearer a", "Bearer b"}, wantCode: codes.InvalidArgument, wantReason: audit.ReasonMultipleCredentials, wantOAuth: ErrInvalidRequest},
		{name: "authorization and x-api-key", authz: []string{"Bearer a"}, apiKeys: []string{key}, wantCode: codes.InvalidArgument, wantReason: audit.ReasonMultipleCredentials, wantOAuth: ErrInvalidRequest},
		{name: "two x-api-key", apiKeys: []string{key, key}, wantCode: codes.InvalidArgument, wantReason: audit.ReasonMultipleCredentials, wantOAuth: ErrInvalidRequest},
		{name: "authorization too large", authz: []string{"Bearer " + strings.Repeat("a", MaxCredentialLen)}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonCredentialTooLarge, wantOAuth: ErrInvalidToken},
		{name: "x-api-key too large", apiKeys: []string{strings.Repeat("a", MaxCredentialLen+1)}, wantCode: codes.Unauthenticated, wantReason: audit.ReasonCredentialTooLarge, wantOAuth: ErrInvalidToken},
		{name: "at the cap", authz: []string{"Bearer " + strings.Repeat("a", MaxCredentialLen-7)}, wantKind: jwt, wantValue: strings.Repeat("a", MaxCredentialLen-7)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, ae := extractCredential(tt.authz, tt.apiKeys)
			if tt.wantCode != codes.OK {
				if ae == nil {
					t.Fatalf("accepted as %v", cred.kind)
				}
				if ae.Code != tt.wantCode || ae.Reason != tt.wantReason || ae.OAuthError != tt.wantOAuth {
					t.Fatalf("refused with %v/%s/%q, want %v/%s/%q", ae.Code, ae.Reason, ae.OAuthError, tt.wantCode, tt.wantReason, tt.wantOAuth)
				}
				if strings.Contains(ae.Message, "dXNlcjpwYXNz") || strings.Contains(ae.Message, key) {
					t.Fatalf("message echoes the credential: %q", ae.Message)
				}
				return
			}
			if ae != nil {
				t.Fatalf("refused: %v", ae)
			}
			if cred.kind != tt.wantKind || cred.value != tt.wantValue {
				t.Fatalf("got %v %q, want %v %q", cred.kind, cred.value, tt.wantKind, tt.wantValue)
			}
		})
	}
}

func TestSanitizeQuoted(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "clean", in: "API key revoked", want: "API key revoked"},
		{name: "quote and backslash dropped", in: `a"b\c`, want: "abc"},
		{name: "controls dropped", in: "a\r\nb\tc\x00", want: "abc"},
		{name: "non-ASCII dropped", in: "clé", want: "cl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sanitizeQuoted(tt.in); got != tt.want {
				t.Fatalf("sanitizeQuoted(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
