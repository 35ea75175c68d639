package token

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Refresh tokens of browser apps (clients registered with
// refresh_token_delivery cookie) never reach JavaScript: the token
// endpoint sets them as an HttpOnly, SameSite=Strict cookie and leaves
// them out of the body; refresh and revocation requests carry no token and
// must come from one of the client's registered origins.

// refreshCookieName is per client, so that several apps can share the
// server: __Host-gatehouse_rt_<client_id> with an https issuer.
func (s *Service) refreshCookieName(clientID string) string {
	return s.cookieName("rt_" + clientID)
}

// setRefreshCookie delivers a refresh token as a cookie that lives as long
// as its grant.
func (s *Service) setRefreshCookie(w http.ResponseWriter, clientID, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure whenever the issuer is https; only a plain-http loopback issuer (development) goes without
		Name: s.refreshCookieName(clientID), Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
}

func (s *Service) clearRefreshCookie(w http.ResponseWriter, clientID string) {
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: as setRefreshCookie
		Name: s.refreshCookieName(clientID), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode,
	})
}

// refreshFromCookie returns the client's refresh token from its cookie for
// a request that must carry none in its body and must come from one of the
// client's origins.
func (s *Service) refreshFromCookie(r *http.Request, cl *client, f *form) (string, error) {
	if f.has("refresh_token") {
		return "", errInvalidRequest("this client's refresh token is a cookie: send none in the body")
	}
	if !cl.allowsOrigin(r.Header.Get("Origin")) {
		return "", newError(CodeInvalidRequest, http.StatusForbidden, "the request must come from one of the client's registered origins")
	}
	c, err := r.Cookie(s.refreshCookieName(cl.id))
	if err != nil || c.Value == "" {
		e := refreshRefused("no refresh token cookie")
		e.Cause = errNoRefreshCookie
		return "", e
	}
	return c.Value, nil
}

// errNoRefreshCookie: a cookie client's request without its cookie.
var errNoRefreshCookie = fmt.Errorf("%w: no cookie", errRefreshFailed)

// allowsOrigin reports whether origin is the origin of one of the
// client's redirect URIs (a browser app's own pages).
func (c *client) allowsOrigin(origin string) bool {
	return origin != "" && slices.Contains(c.origins, origin)
}

// originsOf returns scheme://host[:port] of each http(s) redirect URI.
func originsOf(uris []string) []string {
	var out []string
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			continue
		}
		o := u.Scheme + "://" + u.Host
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// allowCORS lets a client's own origin read the response, with
// credentials (the refresh cookie). Other origins get no CORS headers, so
// the browser keeps the response from them.
func allowCORS(w http.ResponseWriter, r *http.Request, cl *client) {
	h := w.Header()
	h.Add("Vary", "Origin")
	if o := r.Header.Get("Origin"); cl != nil && cl.public && cl.allowsOrigin(o) {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Credentials", "true")
	}
}
