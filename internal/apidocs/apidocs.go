// Package apidocs serves the OpenAPI document (/openapi.json) and a small
// API reference page that renders it (/docs/api), with its script and
// style embedded: the page loads nothing from another origin.
package apidocs

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/gen/openapi"
)

// Routes of the document and the reference page.
const (
	DocumentPath = "/openapi.json"
	PagePath     = "/docs/api"
)

//go:embed static
var static embed.FS

// pageCSP lets the page run its own script and style and fetch the
// document, nothing else.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Routes adds the document and the page to mux. The document names
// issuer's origin as its server, and moves the OAuth endpoints under the
// issuer's path as the token service serves them.
func Routes(mux *http.ServeMux, issuer string) error {
	doc, err := Document(issuer)
	if err != nil {
		return err
	}
	mux.HandleFunc("GET "+DocumentPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	page := func(name, contentType string) http.HandlerFunc {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			panic(err) // embedded at build time: cannot be missing
		}
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Content-Security-Policy", pageCSP)
			_, _ = w.Write(b)
		}
	}
	mux.HandleFunc("GET "+PagePath, page("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET "+PagePath+"/reference.js", page("reference.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET "+PagePath+"/reference.css", page("reference.css", "text/css; charset=utf-8"))
	return nil
}

// atRoot reports whether the server serves path at its root whatever the
// issuer's path: the REST facade and the JWKS (internal/app). The token
// service serves the rest of the document's paths, the OAuth endpoints,
// under the issuer's path.
func atRoot(path string) bool {
	return strings.HasPrefix(path, "/v1/") || path == "/.well-known/jwks.json"
}

// oauthMetadataPath is where RFC 8414 §3 inserts the issuer's path: after
// it, not before.
const oauthMetadataPath = "/.well-known/oauth-authorization-server"

// Document is the published document for a server whose issuer is
// issuer: its server is the issuer's origin, and with an issuer path the
// OAuth endpoints and the token and authorization URLs move under it.
func Document(issuer string) ([]byte, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("apidocs: issuer %q is not an absolute URL", issuer)
	}
	var doc map[string]any
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		return nil, fmt.Errorf("apidocs: the embedded document: %w", err)
	}
	doc["servers"] = []any{map[string]any{"url": u.Scheme + "://" + u.Host, "description": "This Gatehouse server."}}
	if p := strings.TrimSuffix(u.EscapedPath(), "/"); p != "" {
		paths, _ := doc["paths"].(map[string]any)
		moved := map[string]any{}
		for path, item := range paths {
			switch {
			case atRoot(path):
				moved[path] = item
			case path == oauthMetadataPath:
				moved[path+p] = item
			default:
				moved[p+path] = item
			}
		}
		doc["paths"] = moved
		moveFlowURLs(doc, p)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("apidocs: encode the document: %w", err)
	}
	return b, nil
}

// moveFlowURLs puts the OAuth flows' relative URLs under the issuer path.
func moveFlowURLs(doc map[string]any, prefix string) {
	comps, _ := doc["components"].(map[string]any)
	schemes, _ := comps["securitySchemes"].(map[string]any)
	for _, s := range schemes {
		flows, _ := s.(map[string]any)["flows"].(map[string]any)
		for _, f := range flows {
			flow, _ := f.(map[string]any)
			for _, k := range []string{"tokenUrl", "authorizationUrl", "refreshUrl"} {
				if v, ok := flow[k].(string); ok && strings.HasPrefix(v, "/") {
					flow[k] = prefix + v
				}
			}
		}
	}
}
