package authz

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Request is what a gateway forwards of the request it asks about.
type Request struct {
	// Method is the HTTP method, URI the request target (path and
	// query), Host the host the client asked for.
	Method, URI, Host string
	// Authorization and APIKeys are the values of the client's
	// Authorization and X-API-Key headers.
	Authorization, APIKeys []string
	// Remote is the client's address, for audit, rate and failure limits.
	Remote string
	// ClientCert is the client's certificate as the gateway that
	// terminated its TLS connection forwarded it; nil without one.
	ClientCert *x509.Certificate
	// DPoP are the client's DPoP proof headers (RFC 9449), checked
	// against Method and Scheme://Host plus URI's path; Scheme is the
	// scheme the client used (https when the gateway does not say).
	DPoP   []string
	Scheme string
}

// ErrBadRequest wraps a request the authorizer cannot decide on: no
// method, or a path that is not in canonical form.
var ErrBadRequest = errors.New("authz: request cannot be decided")

// Authorizer decides gateway requests by the current route rules. It is
// safe for concurrent use; Reload swaps the rules atomically.
type Authorizer struct {
	base *authn.Validator
	path string
	log  *slog.Logger

	cur atomic.Pointer[compiled]
	// mu serializes reloads, so a slow one cannot overwrite a newer one.
	mu      sync.Mutex
	modTime time.Time
	size    int64

	audienceAuth AudienceAuthenticator
	// byAudience and stops are the audience authenticators made so far
	// (under mu).
	byAudience map[string]authn.Authenticator
	stops      []func()
}

type compiled struct {
	routes *Routes
	v      *authn.Validator
	// byAudience is the validator of the routes that name an audience.
	byAudience map[string]*authn.Validator
}

// AudienceAuthenticator returns the bearer-token authenticator of tokens
// for audience: the process's JWT validation (issuer, keys, algorithms,
// clock skew) with that audience instead of --default-audience, and a
// function that stops it following key rotations.
type AudienceAuthenticator func(audience string) (authn.Authenticator, func(), error)

// Option configures an Authorizer.
type Option func(*Authorizer)

// WithAudiences lets routes name an audience: their bearer tokens are
// checked by the authenticator f returns for it, made once per audience
// and kept across reloads. Without it a route naming an audience does not
// load.
func WithAudiences(f AudienceAuthenticator) Option {
	return func(a *Authorizer) { a.audienceAuth = f }
}

// New loads the route-rules file at path and decides by it with v's
// authenticators, caches, revocation checker, limiters and recorder.
func New(v *authn.Validator, path string, log *slog.Logger, opts ...Option) (*Authorizer, error) {
	if log == nil {
		log = slog.Default()
	}
	// The validator believes a certificate in the metadata of a decision
	// only when Check put it there (withClientCert).
	a := &Authorizer{base: v.With(authn.WithTrustedForwarderPeer(trustsGatewayStatement)), path: path, log: log,
		byAudience: map[string]authn.Authenticator{}}
	for _, opt := range opts {
		opt(a)
	}
	if err := a.Reload(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close stops the audience authenticators following key rotations.
func (a *Authorizer) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, stop := range a.stops {
		stop()
	}
	a.stops = nil
}

// Reload reads the file again. On error the rules in force stay and the
// error says why.
func (a *Authorizer) Reload() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := os.Stat(a.path)
	if err != nil {
		return fmt.Errorf("authz routes: %w", err)
	}
	routes, err := LoadRoutes(a.path)
	if err != nil {
		return err
	}
	c := &compiled{routes: routes, v: a.base.WithRules(routes.rules), byAudience: map[string]*authn.Validator{}}
	for _, aud := range routes.audiences() {
		auth, ok := a.byAudience[aud]
		if !ok {
			if a.audienceAuth == nil {
				return fmt.Errorf("%s: audience %q: this process validates no JWTs for other audiences", a.path, aud)
			}
			var stop func()
			if auth, stop, err = a.audienceAuth(aud); err != nil {
				return fmt.Errorf("%s: audience %q: %w", a.path, aud, err)
			}
			a.byAudience[aud] = auth
			if stop != nil {
				a.stops = append(a.stops, stop)
			}
		}
		// Everything but the bearer-token check is the process's.
		c.byAudience[aud] = c.v.With(authn.WithAuthenticator(auth))
	}
	a.cur.Store(c)
	a.modTime, a.size = st.ModTime(), st.Size()
	return nil
}

// Watch reloads the rules on every value of hup (SIGHUP) and when the
// file's modification time or size changes (checked every interval),
// until ctx is done. A failed reload is logged; the old rules stay.
func (a *Authorizer) Watch(ctx context.Context, hup <-chan os.Signal, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.reloadLogged("signal")
		case <-t.C:
			st, err := os.Stat(a.path)
			if err != nil {
				continue
			}
			a.mu.Lock()
			changed := !st.ModTime().Equal(a.modTime) || st.Size() != a.size
			a.mu.Unlock()
			if changed {
				a.reloadLogged("file changed")
			}
		}
	}
}

func (a *Authorizer) reloadLogged(why string) {
	if err := a.Reload(); err != nil {
		a.log.Error("authz: route rules not reloaded; the previous rules stay in force", "trigger", why, "error", err)
		if st, serr := os.Stat(a.path); serr == nil {
			// Not again until the file changes once more.
			a.mu.Lock()
			a.modTime, a.size = st.ModTime(), st.Size()
			a.mu.Unlock()
		}
		return
	}
	a.log.Info("authz: route rules reloaded", "trigger", why, "file", a.path)
}

// Check decides req. It returns the principal (nil for a route that
// allows unauthenticated requests), or the validator's status error,
// already recorded, or an error wrapping ErrBadRequest.
func (a *Authorizer) Check(ctx context.Context, req Request) (*authn.Principal, error) {
	c := a.cur.Load()
	if req.Method == "" {
		return nil, fmt.Errorf("%w: no method", ErrBadRequest)
	}
	p, query, err := cleanTarget(req.URI)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	v, method := c.v, unmatched
	if r := c.routes.match(req.Method, hostOnly(req.Host), p); r != nil {
		method = r.method
		if r.audience != "" {
			v = c.byAudience[r.audience]
		}
	}
	md := metadata.MD{}
	if len(req.Authorization) > 0 {
		md["authorization"] = req.Authorization
	}
	if len(req.APIKeys) > 0 {
		md["x-api-key"] = req.APIKeys
	}
	if len(md) > 0 && query.Has("access_token") {
		// RFC 6750 §2: one method only. The query token is never accepted
		// (FAPI 2.0); beside a header it makes the request invalid, which
		// the validator says on seeing two credentials.
		md.Append("authorization", "Bearer "+query.Get("access_token"))
	}
	// The gateway's own connection is not the client's: only the
	// certificate it states is.
	ctx = peer.NewContext(ctx, &peer.Peer{Addr: gatewayAddr{}})
	ctx, md = withClientCert(ctx, md, req.ClientCert)
	if len(req.DPoP) > 0 {
		ctx, md = withDPoP(ctx, md, req, p)
	}
	ctx, err = v.Authorize(ctx, method, md, req.Remote)
	if err != nil {
		return nil, err
	}
	pr, _ := authn.FromContext(ctx)
	return pr, nil
}

// Validator returns the validator of the rules in force, to render its
// refusals.
func (a *Authorizer) Validator() *authn.Validator { return a.cur.Load().v }

// cleanTarget returns the decoded path of a request target and its query.
// A path whose decoded and cleaned forms differ (dot segments, doubled or
// encoded slashes) is refused: the upstream may resolve it to another
// route than the one checked.
func cleanTarget(uri string) (string, url.Values, error) {
	if !strings.HasPrefix(uri, "/") {
		return "", nil, errors.New("the URI must be a path")
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return "", nil, errors.New("the URI is not valid")
	}
	raw := u.EscapedPath()
	if strings.Contains(strings.ToLower(raw), "%2f") || strings.Contains(raw, "%5C") || strings.Contains(raw, "%5c") || strings.Contains(u.Path, "\\") {
		return "", nil, errors.New("encoded slashes are not decided")
	}
	cleaned := path.Clean(u.Path)
	if strings.HasSuffix(u.Path, "/") && cleaned != "/" {
		cleaned += "/"
	}
	if cleaned != u.Path {
		return "", nil, errors.New("the path is not in canonical form")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// The parameters before the malformed one are still checked.
		return u.Path, q, nil
	}
	return u.Path, q, nil
}

func hostOnly(h string) string {
	h = strings.ToLower(h)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// KindName is the credential kind's name in the identity headers.
func KindName(k authv1.CredentialKind) string {
	switch k {
	case authv1.CredentialKind_CREDENTIAL_KIND_JWT:
		return "bearer"
	case authv1.CredentialKind_CREDENTIAL_KIND_API_KEY:
		return "api_key"
	case authv1.CredentialKind_CREDENTIAL_KIND_MTLS:
		return "mtls"
	}
	return ""
}

// badRequestStatus is the refusal of a request that cannot be decided.
func badRequestStatus(err error) error {
	return status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), ErrBadRequest.Error()+": "))
}
