package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
)

// TestTrustedProxies: behind a proxy named by --trusted-proxies, failures
// are counted against the caller the proxy saw; a header from a caller
// that is not a trusted proxy changes nothing (checklist item 89).
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		proxies string
		want    string
	}{
		{"loopback is a trusted proxy", "127.0.0.0/8,10.0.0.0/8", "203.0.113.9"},
		{"no trusted proxies: the header is forged", "", "127.0.0.1"},
		{"another proxy trusted: the header is forged", "10.0.0.0/8", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logtest.Buffer{}
			a := startTraced(t, logs, "--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "",
				"--trusted-proxies", tt.proxies)
			base := "http://" + a.HTTPAddr()
			// The client wrote the leftmost entry, a proxy at 10.0.0.5
			// the next, the one in front of Gatehouse the rightmost.
			xff := "6.6.6.6, 203.0.113.9, 10.0.0.5"
			send := func(req *http.Request) {
				t.Helper()
				req.Header.Set("X-Forwarded-For", xff)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s %s: %d, want 401", req.Method, req.URL.Path, resp.StatusCode)
				}
			}
			form := url.Values{"grant_type": {"client_credentials"}}
			req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("no-such-client", "wrong")
			send(req)
			req, _ = http.NewRequest(http.MethodGet, base+"/v1/clients", nil)
			req.Header.Set("Authorization", "ApiKey gth_notakey")
			send(req)

			remotes := map[string]string{}
			deadline := time.Now().Add(5 * time.Second)
			for len(remotes) < 2 && time.Now().Before(deadline) {
				for _, l := range logs.Records(t) {
					if l["event"] != "auth_failure" {
						continue
					}
					if m, _ := l["method"].(string); m != "" {
						remotes[m], _ = l["remote"].(string)
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(remotes) != 2 {
				t.Fatalf("auth failures logged: %v, want the token request's and the REST call's", remotes)
			}
			for m, r := range remotes {
				if r != tt.want {
					t.Errorf("%s: remote %q, want %q", m, r, tt.want)
				}
			}
		})
	}
}
