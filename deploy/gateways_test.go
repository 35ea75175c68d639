package deploy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
)

// TestGatewayConfigsNameTheIdentityHeaders checks the forward-auth
// configurations against the authorizer's own names: each calls its path
// and handles every identity header, so a renamed or added header fails
// here rather than reaching an API unstripped. nginx and Caddy run for
// real in cmd/gatehouse's tests; Traefik's is checked here only.
func TestGatewayConfigsNameTheIdentityHeaders(t *testing.T) {
	for _, file := range []string{"nginx/gatehouse.conf", "caddy/Caddyfile", "traefik/dynamic.yaml"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			conf := strings.ToLower(string(b))
			if !strings.Contains(conf, authz.ForwardAuthPath) {
				t.Errorf("does not call %s", authz.ForwardAuthPath)
			}
			for _, h := range authz.IdentityHeaders {
				name := strings.ToLower(h)
				if strings.HasPrefix(file, "nginx/") {
					// nginx: set upstream, read from $upstream_http_*.
					if !strings.Contains(conf, "proxy_set_header "+name+" ") ||
						!strings.Contains(conf, "$upstream_http_"+strings.ReplaceAll(name, "-", "_")) {
						t.Errorf("does not strip and set %s", h)
					}
					continue
				}
				// Traefik names each header twice (blanked, then copied);
				// Caddy strips them all by prefix, then copies each.
				want := 2
				if strings.HasPrefix(file, "caddy/") {
					want = 1
					if !strings.Contains(conf, "request_header -x-gatehouse-*") {
						t.Errorf("does not strip the client's x-gatehouse-* headers")
					}
				}
				if strings.Count(conf, name) < want {
					t.Errorf("does not strip and set %s", h)
				}
			}
		})
	}
}
