package authz

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Identity headers of an allowed request. The gateway copies them to the
// upstream request after removing any the client sent.
const (
	HeaderClientID       = "X-Gatehouse-Client-Id"
	HeaderSubject        = "X-Gatehouse-Subject"
	HeaderScopes         = "X-Gatehouse-Scopes"
	HeaderCredentialKind = "X-Gatehouse-Credential-Kind"
)

// IdentityHeaders are the names of the identity headers.
var IdentityHeaders = []string{HeaderClientID, HeaderSubject, HeaderScopes, HeaderCredentialKind}

// ForwardAuthPath is where ForwardAuth is mounted.
const ForwardAuthPath = "/authz/check"

// ForwardAuth is the HTTP forward-auth decision endpoint (nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth). The gateway
// states the client's request in X-Forwarded-Method (or X-Original-Method),
// X-Forwarded-Uri (or X-Original-URI) and X-Forwarded-Host, and passes its
// Authorization and X-API-Key headers. Those headers are believed only
// from the trusted proxies; anyone else is refused.
//
//	200  allowed; identity headers set (none for an unauthenticated route)
//	401  no or bad credential; WWW-Authenticate: Bearer … (RFC 6750 §3)
//	403  insufficient_scope, credential kind not accepted, or no route
//	400  two credentials, or a URI that is not in canonical form
//	429  rate limited; Retry-After
//	503  revocation list stale (unless --revocation-fail-open); Retry-After
//
// The body is never read; any method is answered, since gateways ask with
// the client's method (Traefik) or GET (nginx with proxy_method).
//
// certHeader, when not empty, names the header in which the gateway that
// terminates the client's TLS states the client certificate (see
// ParseForwardedCert; x-forwarded-client-cert is read as Envoy writes it).
// The gateway must set it on every request, overwriting any the client
// sent. Empty: no certificate is ever taken from a header.
func ForwardAuth(a *Authorizer, proxies []netip.Prefix, certHeader string, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		v := a.Validator()
		if !authn.InPrefixes(r.RemoteAddr, proxies) {
			// Only a gateway may state another request's method and URI.
			log.Warn("authz: forward-auth request from an address not in --trusted-proxies", "remote", r.RemoteAddr)
			v.WriteHTTPError(w, status.Error(codes.PermissionDenied, "not a trusted proxy"))
			return
		}
		req := Request{
			Method:        first(r.Header, "X-Forwarded-Method", "X-Original-Method"),
			URI:           first(r.Header, "X-Forwarded-Uri", "X-Original-Uri"),
			Host:          first(r.Header, "X-Forwarded-Host"),
			Authorization: r.Header.Values("Authorization"),
			APIKeys:       r.Header.Values(authn.HeaderAPIKey),
			Remote:        authn.ClientIP(r, proxies),
			DPoP:          r.Header.Values("DPoP"),
			Scheme:        first(r.Header, "X-Forwarded-Proto"),
		}
		if certHeader != "" {
			cert, err := forwardedCert(certHeader, r.Header.Get(certHeader))
			if err != nil {
				v.WriteHTTPError(w, badRequestStatus(err))
				return
			}
			req.ClientCert = cert
		}
		p, err := a.Check(r.Context(), req)
		if errors.Is(err, ErrBadRequest) {
			v.WriteHTTPError(w, badRequestStatus(err))
			return
		}
		if err != nil {
			v.WriteHTTPError(w, err)
			return
		}
		if p != nil {
			setIdentity(h, p)
		}
		w.WriteHeader(http.StatusOK)
	})
}

// setIdentity sets the identity headers of p. Values come from verified
// credentials; a character that could split a header is impossible in
// them, but they are checked anyway since a gateway copies them verbatim.
func setIdentity(h http.Header, p *authn.Principal) {
	set := func(k, v string) {
		if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
			h.Set(k, v)
		}
	}
	set(HeaderClientID, p.ClientID)
	set(HeaderSubject, p.Subject)
	set(HeaderScopes, strings.Join(p.Scopes, " "))
	set(HeaderCredentialKind, KindName(p.Kind))
}

// forwardedCert reads the certificate header named name.
func forwardedCert(name, value string) (*x509.Certificate, error) {
	if strings.EqualFold(name, "x-forwarded-client-cert") {
		value = xfccCert(value)
	}
	return ParseForwardedCert(value)
}

func first(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
