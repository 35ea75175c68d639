package token_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// downClients is a registry that cannot be reached.
type downClients struct{ code codes.Code }

func (d downClients) VerifyClientSecret(context.Context, *clientsv1.VerifyClientSecretRequest) (*clientsv1.VerifyClientSecretResponse, error) {
	return nil, status.Error(d.code, "registry at 10.0.0.7:9090 unreachable: secret s3cr3t")
}

func (d downClients) GetClient(context.Context, *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	return nil, status.Error(d.code, "down")
}

type failingSigner struct{}

func (failingSigner) SigningKey(context.Context) (token.SigningKey, error) {
	return token.SigningKey{}, errors.New("no active key")
}

// TestDependenciesDown: when the registry or the key source fails, the
// answer is a 5xx that says nothing internal, and it spends no failure
// budget (the client did nothing wrong).
func TestDependenciesDown(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name    string
		clients token.Clients
		signer  token.Signer
		status  int
		code    string
	}{
		{"registry unavailable", downClients{codes.Unavailable}, fixedSigner{token.SigningKey{KID: "k1", Alg: jwa.ES256, Key: e.priv}}, 503, "temporarily_unavailable"},
		{"registry internal error", downClients{codes.Internal}, fixedSigner{token.SigningKey{KID: "k1", Alg: jwa.ES256, Key: e.priv}}, 500, "server_error"},
		{"no signing key", e.reg, failingSigner{}, 503, "temporarily_unavailable"},
		{"a public signing key", e.reg, fixedSigner{token.SigningKey{KID: "k1", Alg: jwa.ES256, Key: e.pub}}, 500, "server_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := token.New(token.Config{Issuer: "http://127.0.0.1:1", DefaultAudience: defaultAudience},
				tc.clients, tc.signer, &jwxVerifier{})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			svc.Routes(mux)
			for range 25 { // more than the failure burst: no 429
				w := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/oauth2/token", strings.NewReader("grant_type=client_credentials"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.Header.Set("Authorization", basicHeader(e.partner.id, e.partner.secret))
				mux.ServeHTTP(w, r)
				resp := response{status: w.Code, header: w.Header(), body: w.Body.Bytes()}
				assertOAuthError(t, resp, tc.status, tc.code)
				if tc.status == 503 && resp.header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				for _, leak := range []string{"10.0.0.7", "s3cr3t", "no active key", "registry"} {
					if strings.Contains(string(resp.body), leak) {
						t.Fatalf("internal detail %q leaked: %s", leak, resp.body)
					}
				}
			}
		})
	}
}
