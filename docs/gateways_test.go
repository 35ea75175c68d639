package docs

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
)

// TestGatewaysRouteExample loads the route-rules example of gateways.md
// with the authorizer's own parser, so the document cannot show a file
// Gatehouse refuses.
func TestGatewaysRouteExample(t *testing.T) {
	b, err := os.ReadFile("gateways.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```yaml\nroutes:")
	if !ok {
		t.Fatal("gateways.md has no ```yaml block starting with routes:")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("unterminated yaml block")
	}
	if _, err := authz.ParseRoutes("gateways.md example", []byte("routes:"+block)); err != nil {
		t.Fatal(err)
	}
}
