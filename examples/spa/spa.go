// Package spa is an example single-page app that signs in with OpenID
// Connect (the authorization-code flow with PKCE and a nonce): plain
// JavaScript, served by the gatehouse binary under /spa/ when it runs the
// example inventory API. It validates the ID token in the browser
// (static/oidc.js), keeps the access and ID tokens in memory, leaves the
// refresh token to an HttpOnly cookie, and signs out through the
// end_session_endpoint.
package spa

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Path is where the app is served; its redirect URI is the origin plus
// Path.
const Path = "/spa/"

// Handler serves the app under Path, with a Content-Security-Policy that
// allows no inline script or style, no other origin, and forms (the
// sign-out POST) only to this one.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Path, http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		files.ServeHTTP(w, r)
	})
}
