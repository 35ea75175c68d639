package authn

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
)

// TestRequireSenderConstrained: a rule with require_sender_constrained
// takes DPoP-bound tokens with their proof and certificate-bound tokens
// with their certificate; a bearer token is 401 invalid_token naming the
// requirement, with a DPoP challenge so the client learns how to comply,
// and a token lacking the scope still gets the scope refusal.
func TestRequireSenderConstrained(t *testing.T) {
	pki := thePKI(t)
	e := newJWTEnv(t)
	k := newDPoPKey(t)
	dv, err := dpop.NewVerifier(dpop.WithClock(e.now))
	if err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	v := NewValidator(nil, WithAuthenticator(e.auth), WithLogger(discardLogger()), WithRecorder(rec), WithDPoP(dv, ""))
	rule := &authv1.AuthRule{Scopes: []string{"things:read"}, RequireSenderConstrained: true}
	h := v.HTTPMiddleware(rule, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	dpopBound := mint(t, e.keys.es256, validClaims(e.now()).with("cnf", map[string]any{"jkt": k.JKT}))
	certBound := mint(t, e.keys.es256, validClaims(e.now()).with("cnf", map[string]any{"x5t#S256": CertThumbprint(pki.clientA.Leaf)}))
	bearer := e.valid(t)
	noScope := mint(t, e.keys.es256, validClaims(e.now()).with("scope", "other"))
	withCert := &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{pki.clientA.Leaf}}
	const required = "this method requires a sender-constrained token (DPoP-bound or bound to a client certificate)"

	tests := []struct {
		name       string
		authz      string
		proof      bool
		tls        *tls.ConnectionState
		status     int
		challenge  string // the first WWW-Authenticate on a refusal
		wantReason audit.Reason
	}{
		{name: "DPoP-bound with its proof", authz: "DPoP " + dpopBound, proof: true, status: 200},
		{name: "certificate-bound with its certificate", authz: "Bearer " + certBound, tls: withCert, status: 200},
		{name: "bearer token", authz: "Bearer " + bearer, status: 401,
			challenge: `Bearer realm="gatehouse", error="invalid_token", error_description="` + required + `"`, wantReason: audit.ReasonSenderConstraintRequired},
		{name: "bearer token over a TLS connection with a certificate", authz: "Bearer " + bearer, tls: withCert, status: 401,
			challenge: `Bearer realm="gatehouse", error="invalid_token"`, wantReason: audit.ReasonSenderConstraintRequired},
		{name: "bearer token without the scope", authz: "Bearer " + noScope, status: 403,
			challenge: `Bearer realm="gatehouse", error="insufficient_scope"`, wantReason: audit.ReasonInsufficientScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.all())
			r := httptest.NewRequest("GET", thingsURL, nil)
			if tt.tls != nil {
				r.TLS = tt.tls
			}
			r.Header.Set("Authorization", tt.authz)
			if tt.proof {
				r.Header.Set("DPoP", k.proof(t, e, "GET", thingsURL, dpopBound))
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; %s", w.Code, tt.status, w.Body)
			}
			if tt.status == 200 {
				return
			}
			chals := w.Header().Values("WWW-Authenticate")
			if len(chals) == 0 || !strings.HasPrefix(chals[0], tt.challenge) {
				t.Fatalf("WWW-Authenticate %q, want %q first", chals, tt.challenge)
			}
			if tt.status == 401 && (len(chals) != 2 || !strings.HasPrefix(chals[1], "DPoP ")) {
				t.Errorf("WWW-Authenticate %q, want a DPoP challenge too", chals)
			}
			if got := rec.all()[before:]; len(got) != 1 || got[0].Reason != tt.wantReason {
				t.Fatalf("recorded %+v, want %s", got, tt.wantReason)
			}
		})
	}
}

// TestRequireSenderConstrainedRules: the rule compiler keeps the flag and
// refuses combinations that cannot be satisfied or make no sense.
func TestRequireSenderConstrainedRules(t *testing.T) {
	tests := []struct {
		name string
		rule *authv1.AuthRule
		ok   bool
	}{
		{name: "JWT and API keys", rule: &authv1.AuthRule{Scopes: []string{"a"}, RequireSenderConstrained: true}, ok: true},
		{name: "certificate alone", rule: &authv1.AuthRule{RequireSenderConstrained: true, Credentials: []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_MTLS}}, ok: true},
		{name: "public", rule: &authv1.AuthRule{Public: true, RequireSenderConstrained: true}},
		{name: "API keys only", rule: &authv1.AuthRule{RequireSenderConstrained: true, Credentials: []authv1.CredentialKind{authv1.CredentialKind_CREDENTIAL_KIND_API_KEY}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRules(map[string]*authv1.AuthRule{"/a.B/C": tt.rule})
			if (err == nil) != tt.ok {
				t.Fatalf("NewRules: %v, want ok %v", err, tt.ok)
			}
			if tt.ok {
				if got, _ := r.Lookup("/a.B/C"); !got.GetRequireSenderConstrained() {
					t.Fatalf("rule lost require_sender_constrained: %v", got)
				}
			}
		})
	}
}
