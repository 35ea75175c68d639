package token_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/services/token"
)

// TestReasonsAreEnumerated: every reason the token service records has its
// own label in gatehouse_auth_failures_total, not "other", so an operator
// can alert on a guessing attack at the login page or the token endpoint.
func TestReasonsAreEnumerated(t *testing.T) {
	for _, r := range []audit.Reason{
		token.ReasonInvalidClientCredentials, token.ReasonGrantNotAllowed, token.ReasonCertificateRefused,
		token.ReasonLoginFailed, token.ReasonCSRF, token.ReasonCodeReuse, token.ReasonRefreshReuse,
	} {
		if !r.Valid() {
			t.Errorf("%s is counted as other", r)
		}
	}
}
