package apidocs

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestDocument(t *testing.T) {
	for _, tc := range []struct {
		name, issuer, server string
		paths, absent        []string
		tokenURL             string
		wantErr              bool
	}{{
		name:     "issuer without a path",
		issuer:   "http://127.0.0.1:8080",
		server:   "http://127.0.0.1:8080",
		paths:    []string{"/oauth2/token", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/v1/inventory/items"},
		tokenURL: "/oauth2/token",
	}, {
		name:   "issuer with a path",
		issuer: "https://id.example.com/tenant",
		server: "https://id.example.com",
		paths: []string{
			"/tenant/oauth2/token", "/tenant/oauth2/authorize", "/tenant/.well-known/openid-configuration",
			"/.well-known/oauth-authorization-server/tenant", "/.well-known/jwks.json", "/v1/inventory/items",
			"/tenant/oauth2/logout",
		},
		absent:   []string{"/oauth2/token", "/.well-known/oauth-authorization-server", "/tenant/v1/inventory/items"},
		tokenURL: "/tenant/oauth2/token",
	}, {
		name:    "not an absolute URL",
		issuer:  "/tenant",
		wantErr: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Document(tc.issuer)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var doc struct {
				Servers []struct {
					URL string `json:"url"`
				} `json:"servers"`
				Paths      map[string]json.RawMessage `json:"paths"`
				Components struct {
					SecuritySchemes map[string]struct {
						Flows map[string]struct {
							TokenURL string `json:"tokenUrl"`
						} `json:"flows"`
					} `json:"securitySchemes"`
				} `json:"components"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Servers) != 1 || doc.Servers[0].URL != tc.server {
				t.Fatalf("servers %+v, want %s", doc.Servers, tc.server)
			}
			for _, p := range tc.paths {
				if _, ok := doc.Paths[p]; !ok {
					t.Errorf("no path %s", p)
				}
			}
			for _, p := range tc.absent {
				if _, ok := doc.Paths[p]; ok {
					t.Errorf("path %s is still there", p)
				}
			}
			if got := doc.Components.SecuritySchemes["Bearer"].Flows["clientCredentials"].TokenURL; got != tc.tokenURL {
				t.Errorf("tokenUrl %q, want %q", got, tc.tokenURL)
			}
		})
	}
}

// The page and everything it loads are served here, with a policy that
// lets it load nothing from elsewhere.
func TestPageLoadsOnlyItsOwnAssets(t *testing.T) {
	mux := http.NewServeMux()
	if err := Routes(mux, "http://127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// get returns the status, the headers and the body of path.
	get := func(path string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path) //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	code, h, body := get(DocumentPath)
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" || !json.Valid([]byte(body)) {
		t.Fatalf("%s: %d %s", DocumentPath, code, h.Get("Content-Type"))
	}
	code, h, page := get(PagePath)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("%s: %d %s", PagePath, code, h.Get("Content-Type"))
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 3 {
		t.Fatalf("the page refers to %d resources; want its script, its style and the document", len(refs))
	}
	for _, m := range refs {
		ref := m[1]
		if !strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "//") {
			t.Errorf("the page refers to %s, not a path of this server", ref)
			continue
		}
		if code, _, _ := get(ref); code != http.StatusOK {
			t.Errorf("%s: %d", ref, code)
		}
	}
	if _, _, js := get(PagePath + "/reference.js"); !strings.Contains(js, `fetch("`+DocumentPath+`"`) {
		t.Error("the script does not load the document")
	}
}
