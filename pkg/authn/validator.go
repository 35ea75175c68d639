package authn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/dpop"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// DefaultRealm is the RFC 6750 realm when WithRealm is not given.
const DefaultRealm = "gatehouse"

// Authenticator checks one kind of credential. Authenticate returns the
// principal, an *AuthError when the credential is refused, or any other
// error when it could not be checked (the request then gets Unavailable).
type Authenticator interface {
	Kind() authv1.CredentialKind
	Authenticate(ctx context.Context, credential string) (*Principal, error)
}

// Option configures a Validator.
type Option func(*Validator)

// WithAuthenticator registers the authenticator of a credential kind,
// replacing any earlier one for that kind. A kind without an authenticator
// is refused (Unauthenticated, unsupported_credential).
func WithAuthenticator(a Authenticator) Option {
	return func(v *Validator) {
		if a == nil {
			return
		}
		if k := a.Kind(); k > 0 && int(k) < len(v.auths) {
			v.auths[k] = a
		}
	}
}

// WithRateLimiter limits each client (by client_id) to its principal's
// rate-limit tier. Without it nothing is rate limited.
func WithRateLimiter(l *ratelimit.Limiter) Option {
	return func(v *Validator) { v.limiter = l }
}

// WithRecorder sets where refusals go. The default logs them with the
// validator's logger (audit.New without metrics or events).
func WithRecorder(r audit.Recorder) Option {
	return func(v *Validator) { v.rec = r }
}

// WithLogger sets the validator's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(v *Validator) {
		if l != nil {
			v.log = l
		}
	}
}

// WithRealm sets the realm of WWW-Authenticate challenges (default
// "gatehouse"). Characters not allowed in the quoted value are dropped.
func WithRealm(realm string) Option {
	return func(v *Validator) { v.realm = sanitizeQuoted(realm) }
}

// WithService names the service in audit records.
func WithService(name string) Option {
	return func(v *Validator) { v.service = name }
}

// WithErrorDomain sets the google.rpc.ErrorInfo Domain of every refusal
// (default ErrorDomain, "gatehouse"), so a service's clients can tell its
// refusals from those of the services it calls.
func WithErrorDomain(domain string) Option {
	return func(v *Validator) { v.domain = domain }
}

// WithTierResolver names the rate-limit tier of principals whose
// credential does not carry one (a JWT says nothing of its client's tier;
// an API key's verification does).
func WithTierResolver(tierOf func(ctx context.Context, clientID string) string) Option {
	return func(v *Validator) { v.tierOf = tierOf }
}

// staleRetryAfter is the Retry-After of a request refused because the
// revocation list is stale.
const staleRetryAfter = 5 * time.Second

// RevocationChecker says whether an authenticated principal's credential
// was revoked: by its jti, refresh family, API key id, client or subject
// (issued at or before the revocation), certificate serial or signing key.
// It is asked on every request, so it answers from memory. An error means
// the list cannot be trusted (not loaded yet, or stale beyond its bound)
// and the request is refused with Unavailable.
type RevocationChecker interface {
	CheckPrincipal(ctx context.Context, p *Principal) (revoked bool, err error)
}

// WithRevocationChecker refuses principals whose credential c says is
// revoked, whatever the credential kind. Without it only the
// authenticators' own checks apply.
func WithRevocationChecker(c RevocationChecker) Option {
	return func(v *Validator) { v.revocations = c }
}

// WithTrustedForwarder tells which peers may state the caller's address in
// x-forwarded-for (gRPC metadata) or X-Forwarded-For (HTTP), such as the
// in-process gateway over bufconn. For such a peer the last (rightmost)
// address of the header, the one the forwarder itself added, is the remote
// address in audit records; for any other peer the header is ignored.
//
// A trusted gRPC peer also states the caller's client certificate, in the
// MetadataClientCertThumbprint and MetadataClientCertSerial metadata
// (ForwardClientCert): for a request it forwards, that is the certificate
// certificate-bound tokens are checked against, and without it the request
// has none. From any other peer those keys are ignored and the certificate
// is the peer's own TLS client certificate.
func WithTrustedForwarder(trusted func(peer net.Addr) bool) Option {
	return func(v *Validator) { v.trusted = trusted }
}

// WithTrustedForwarderPeer is WithTrustedForwarder for gRPC requests that
// are known to be forwarded by more than their peer's address: a gateway
// in another process, known by its TLS client certificate
// (credentials.TLSInfo), that marks the requests it forwards in their
// metadata, since its own calls carry its own credential. A request is
// forwarded when either predicate says so.
func WithTrustedForwarderPeer(trusted func(ctx context.Context, p *peer.Peer) bool) Option {
	return func(v *Validator) { v.trustedPeer = trusted }
}

// forwarder reports whether the gRPC request from peer p was forwarded by
// a trusted forwarder.
func (v *Validator) forwarder(ctx context.Context, p *peer.Peer) bool {
	if p == nil {
		return false
	}
	if p.Addr != nil && v.trusted != nil && v.trusted(p.Addr) {
		return true
	}
	return v.trustedPeer != nil && v.trustedPeer(ctx, p)
}

// Validator authenticates and authorizes requests against Rules. It is
// safe for concurrent use.
type Validator struct {
	rules       *Rules
	auths       [4]Authenticator // indexed by authv1.CredentialKind
	limiter     *ratelimit.Limiter
	rec         audit.Recorder
	log         *slog.Logger
	realm       string
	service     string
	trusted     func(net.Addr) bool
	proxies     []netip.Prefix
	trustedPeer func(context.Context, *peer.Peer) bool
	fails       *failGate
	tierOf      func(ctx context.Context, clientID string) string
	domain      string

	revocations RevocationChecker
	certAuth    CertAuthenticator

	// dpop checks DPoP proofs (WithDPoP); dpopOrigin is the origin of
	// their htu, "" to take the request's.
	dpop       *dpop.Verifier
	dpopOrigin string
}

// NewValidator returns a Validator enforcing rules. A nil rules refuses
// every method.
func NewValidator(rules *Rules, opts ...Option) *Validator {
	v := &Validator{rules: rules, log: slog.Default(), realm: DefaultRealm}
	for _, opt := range opts {
		opt(v)
	}
	if v.rec == nil {
		v.rec = audit.New(v.log, nil, nil, v.service)
	}
	return v
}

// Realm returns the realm of the validator's challenges.
func (v *Validator) Realm() string { return v.realm }

// request is what the core needs of one request, gRPC or HTTP.
type request struct {
	// method is the gRPC full method or the HTTP route, for audit.
	method  string
	rule    *rule
	authz   []string
	apiKeys []string
	// remote is the caller's address; for gRPC it is resolved from the
	// context only when a refusal is recorded.
	remote  string
	grpcCtx bool
	// md is the incoming metadata given to Authorize; nil for the
	// interceptors, which read it from the context.
	md metadata.MD
	// http is set for HTTPMiddleware, whose client certificate is the
	// first of tlsState's peer certificates.
	http     bool
	tlsState *tls.ConnectionState

	// DPoP (RFC 9449 §7): the proofs sent, and the htm and htu they must
	// name; credDPoP and token are set by authenticate from the
	// Authorization header.
	dpopProofs []string
	htm, htu   string
	credDPoP   bool
	token      string
}

// Authorize checks a request to the gRPC method fullMethod carrying the
// incoming metadata md, from remote (used for audit only). The client
// certificate is the TLS peer's of ctx (peer.FromContext), or the one md
// states when that peer is a trusted forwarder. On success it
// returns ctx with the principal (unchanged for a public method); on
// refusal a status error (see AuthError.GRPCStatus), already recorded.
func (v *Validator) Authorize(ctx context.Context, fullMethod string, md metadata.MD, remote string) (context.Context, error) {
	if md == nil {
		md = metadata.MD{}
	}
	req := request{method: fullMethod, rule: v.rules.lookup(fullMethod), remote: remote, md: md}
	if req.rule != nil && !req.rule.public {
		req.authz = md.Get(mdAuthorization)
		req.apiKeys = md.Get(mdAPIKey)
		p, _ := peer.FromContext(ctx)
		v.dpopGRPC(&req, md.Get(mdDPoP), md.Get(":authority"), v.forwarder(ctx, p), md.Get(MetadataDPoPHTM), md.Get(MetadataDPoPHTU))
	}
	return v.authorize(ctx, &req)
}

// UnaryServerInterceptor authorizes every unary call.
func (v *Validator) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := v.authorizeGRPC(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor authorizes every streaming call; the handler's
// stream returns the context with the principal.
func (v *Validator) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := v.authorizeGRPC(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &principalStream{ServerStream: ss, ctx: ctx})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *principalStream) Context() context.Context { return s.ctx }

func (v *Validator) authorizeGRPC(ctx context.Context, fullMethod string) (context.Context, error) {
	req := request{method: fullMethod, rule: v.rules.lookup(fullMethod), grpcCtx: true}
	if req.rule != nil && !req.rule.public {
		req.authz = metadata.ValueFromIncomingContext(ctx, mdAuthorization)
		req.apiKeys = metadata.ValueFromIncomingContext(ctx, mdAPIKey)
		p, _ := peer.FromContext(ctx)
		v.dpopGRPC(&req, metadata.ValueFromIncomingContext(ctx, mdDPoP), metadata.ValueFromIncomingContext(ctx, ":authority"),
			v.forwarder(ctx, p), metadata.ValueFromIncomingContext(ctx, MetadataDPoPHTM), metadata.ValueFromIncomingContext(ctx, MetadataDPoPHTU))
	}
	return v.authorize(ctx, &req)
}

func (v *Validator) authorize(ctx context.Context, req *request) (context.Context, error) {
	// An address over its failure budget is not refused outright: many
	// good callers may share it with a guesser (checklist item 89). Its
	// credentials that cost nothing to check — a JWT, verified here with
	// cached keys, or an API key this validator has already accepted — are
	// checked and answered, and so is an API key whose key id this
	// validator accepted lately, until that key id fails from this address;
	// any other (an unknown API key, a certificate alone) is refused before
	// any lookup, so the guesser gets neither answers nor lookups.
	var (
		blockedWait time.Duration
		addr, pair  string
	)
	if v.fails != nil && v.fails.n.Load() > 0 && req.rule != nil && !req.rule.public {
		addr = v.remoteOf(ctx, req)
		if wait, blocked := v.fails.blockedFor(addr); blocked {
			if !v.cheapToCheck(req) {
				pair = v.knownKeyAt(req, addr)
				if _, spent := v.fails.blockedFor(pair); pair == "" || spent {
					return ctx, v.refuse(ctx, req, errTooManyFailures(wait))
				}
			}
			blockedWait = wait
		}
	}
	out, ae := v.check(ctx, req)
	if ae != nil {
		if v.fails != nil && countsAsFailure(ae) {
			if addr == "" {
				addr = v.remoteOf(ctx, req)
			}
			v.fails.fail(addr)
			if blockedWait > 0 {
				// The known key id failed from here: it is refused from
				// this address, unchecked, as long as the address is.
				v.fails.block(pair, blockedWait)
				ae = errTooManyFailures(blockedWait)
			}
		}
		return ctx, v.refuse(ctx, req, ae)
	}
	return out, nil
}

// knownKeyAt is the failure gate's key for the request's API key at addr
// when the key's id was accepted lately by this validator; "" otherwise.
func (v *Validator) knownKeyAt(req *request, addr string) string {
	cred, ae := extractCredential(req.authz, req.apiKeys)
	if ae != nil {
		return ""
	}
	a, ok := v.auths[cred.kind].(*APIKeyAuthenticator)
	if !ok {
		return ""
	}
	id, known := a.knownKeyID(cred.value)
	if !known {
		return ""
	}
	return "key:" + id + "\x00" + addr
}

// cheapToCheck says whether the request's credential is checked without
// asking anyone: a JWT, or an API key in the validator's cache.
func (v *Validator) cheapToCheck(req *request) bool {
	cred, ae := extractCredential(req.authz, req.apiKeys)
	if ae != nil {
		return false
	}
	switch a := v.auths[cred.kind].(type) {
	case *JWTAuthenticator:
		return true
	case *APIKeyAuthenticator:
		return a.cached(cred.value)
	}
	return false
}

// check runs the rule against the request, in the documented order.
func (v *Validator) check(ctx context.Context, req *request) (context.Context, *AuthError) {
	r := req.rule
	if r == nil {
		return ctx, errNoAuthRule()
	}
	if r.public {
		return ctx, nil
	}
	p, kind, ae := v.authenticate(ctx, req)
	if ae != nil {
		return ctx, ae
	}
	// From here on p carries the request's client certificate (serial,
	// and TrustMTLS for a certificate-bound token), on a copy.
	p, ae = v.bindClientCert(ctx, req, p)
	if ae != nil {
		return ctx, ae
	}
	if ae := v.checkDPoP(req, p); ae != nil {
		return ctx, ae
	}
	if v.revocations != nil {
		if ae := v.checkRevoked(ctx, p); ae != nil {
			return ctx, ae
		}
	}
	if !r.allows(kind) {
		return ctx, &AuthError{
			Code:       codes.PermissionDenied,
			Reason:     audit.ReasonCredentialKindNotAllowed,
			ClientID:   p.ClientID,
			Message:    "credential kind not accepted for this method",
			OAuthError: ErrInsufficientScope,
		}
	}
	if p.RateLimitTier == "" && v.tierOf != nil && p.ClientID != "" {
		if tier := v.tierOf(ctx, p.ClientID); tier != "" {
			// On a copy: principals are shared between requests.
			c := *p
			c.RateLimitTier = tier
			p = &c
		}
	}
	if v.limiter != nil {
		key := p.ClientID
		if key == "" {
			key = p.Subject
		}
		if key != "" {
			if ok, wait := v.limiter.Allow(key, p.RateLimitTier); !ok {
				return ctx, &AuthError{
					Code:       codes.ResourceExhausted,
					Reason:     audit.ReasonRateLimited,
					ClientID:   p.ClientID,
					Message:    "rate limit exceeded",
					OAuthError: ErrRateLimited,
					RetryAfter: wait,
				}
			}
		}
	}
	if first, ok := r.grants(p); !ok {
		return ctx, errInsufficientScope(p, r, first)
	}
	// After the scopes: a token that lacks them will never do, one that
	// has them only needs to come bound to a key (RFC 9449 §7.1, a 401
	// invalid_token with a DPoP challenge telling the client how).
	if !r.constrains(p, kind) {
		return ctx, &AuthError{
			Code:       codes.Unauthenticated,
			Reason:     audit.ReasonSenderConstraintRequired,
			ClientID:   p.ClientID,
			Message:    "this method requires a sender-constrained token (DPoP-bound or bound to a client certificate)",
			OAuthError: ErrInvalidToken,
		}
	}
	return NewContext(ctx, p), nil
}

// authenticate finds the request's credential and its principal: the
// token or key of its headers, or, for a method whose rule lists
// CREDENTIAL_KIND_MTLS, the client certificate alone when there is none.
func (v *Validator) authenticate(ctx context.Context, req *request) (*Principal, authv1.CredentialKind, *AuthError) {
	if len(req.authz)+len(req.apiKeys) == 0 && req.rule.acceptsCertAlone() && v.certAuth != nil {
		cert, ok := v.peerCertificate(ctx, req)
		if !ok {
			return nil, 0, errMissingCredential()
		}
		p, err := v.certAuth.AuthenticateCert(ctx, cert)
		return checkedPrincipal(p, err, authv1.CredentialKind_CREDENTIAL_KIND_MTLS)
	}
	cred, ae := extractCredential(req.authz, req.apiKeys)
	if ae != nil {
		return nil, 0, ae
	}
	req.credDPoP, req.token = cred.dpop, cred.value
	a := v.auths[cred.kind]
	if a == nil {
		return nil, 0, errUnsupportedCredential("credential kind not supported")
	}
	p, err := a.Authenticate(ctx, cred.value)
	return checkedPrincipal(p, err, cred.kind)
}

func checkedPrincipal(p *Principal, err error, kind authv1.CredentialKind) (*Principal, authv1.CredentialKind, *AuthError) {
	if err != nil {
		return nil, 0, asAuthError(err)
	}
	if p == nil {
		return nil, 0, NewUnavailable(errors.New("authenticator returned no principal"))
	}
	return p, kind, nil
}

// checkRevoked refuses a revoked principal, and fails closed when the
// revocation list cannot answer.
func (v *Validator) checkRevoked(ctx context.Context, p *Principal) *AuthError {
	revoked, err := v.revocations.CheckPrincipal(ctx, p)
	if err != nil {
		ae := NewUnavailable(err)
		ae.Reason = audit.ReasonRevocationListStale
		ae.ClientID = p.ClientID
		// The list recovers at the follower's next successful re-sync.
		ae.RetryAfter = staleRetryAfter
		return ae
	}
	if !revoked {
		return nil
	}
	if p.Kind == authv1.CredentialKind_CREDENTIAL_KIND_API_KEY {
		return NewInvalidCredential(audit.ReasonRevokedAPIKey, p.ClientID, "API key revoked")
	}
	return NewInvalidCredential(audit.ReasonRevokedToken, p.ClientID, "credential revoked")
}

// errInsufficientScope names every missing scope, from r.scopes[first] on.
func errInsufficientScope(p *Principal, r *rule, first int) *AuthError {
	var missing []string
	for _, s := range r.scopes[first:] {
		if !p.HasScope(s) {
			missing = append(missing, s)
		}
	}
	return &AuthError{
		Code:       codes.PermissionDenied,
		Reason:     audit.ReasonInsufficientScope,
		ClientID:   p.ClientID,
		Message:    "missing scope: " + strings.Join(missing, " "),
		OAuthError: ErrInsufficientScope,
		Scope:      r.scopeAttr,
	}
}

// refuse records the refusal and returns the status error sent back. A
// verifier failure while the caller's context is done is the caller's own
// cancellation: it is returned as Canceled or DeadlineExceeded and not
// recorded as an auth failure.
func (v *Validator) refuse(ctx context.Context, req *request, ae *AuthError) error {
	if ae.Code == codes.Unavailable && ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	remote := req.remote
	if req.grpcCtx {
		remote = v.grpcRemote(ctx)
	}
	if ae.Err != nil {
		v.log.LogAttrs(ctx, slog.LevelWarn, "authn: credential check failed",
			slog.String("method", req.method), slog.String("reason", string(ae.Reason)), slog.String("error", ae.Err.Error()))
	}
	v.rec.RecordFailure(ctx, audit.Failure{
		Reason:   ae.Reason,
		ClientID: ae.ClientID,
		Method:   req.method,
		Remote:   remote,
		Service:  v.service,
		At:       time.Now(),
	})
	// RFC 9449 §7.1: a refusal of a DPoP request (the DPoP scheme, or a
	// DPoP-bound token) gets a DPoP challenge naming the algorithms; a
	// Bearer request keeps its one Bearer challenge.
	dpopChallenge := v.dpop != nil && ae.Code == codes.Unauthenticated &&
		(req.credDPoP || ae.Reason == audit.ReasonDPoPBindingMismatch || ae.Reason == audit.ReasonInvalidDPoPProof ||
			ae.Reason == audit.ReasonSenderConstraintRequired)
	if (v.domain != "" && ae.Domain == "") || dpopChallenge {
		// On a copy: an authenticator may hand out one refusal many times.
		c := *ae
		if c.Domain == "" {
			c.Domain = v.domain
		}
		if dpopChallenge {
			c.DPoPAlgs = v.dpop.AlgorithmList()
		}
		return c.GRPCStatus().Err()
	}
	return ae.GRPCStatus().Err()
}

// grpcRemote is the caller's address: the peer's, or, when the peer is a
// trusted forwarder or proxy, the rightmost x-forwarded-for entry that is
// not a trusted proxy.
func (v *Validator) grpcRemote(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	addr := p.Addr.String()
	if v.forwarder(ctx, p) || InPrefixes(addr, v.proxies) {
		if ip := v.lastForwarded(metadata.ValueFromIncomingContext(ctx, "x-forwarded-for")); ip != "" {
			return ip
		}
	}
	return hostOnly(addr)
}

// lastForwarded returns the client's address from X-Forwarded-For values:
// the rightmost entry that is not one of the trusted proxies (each proxy
// appends the address it received the request from, so entries left of the
// first untrusted one were set by the client and are never used).
func (v *Validator) lastForwarded(values []string) string {
	return ForwardedClient(values, v.proxies)
}

// ForwardedClient returns, from X-Forwarded-For values, the rightmost
// address that is not in proxies: the client as the last trusted hop saw
// it. Empty when there is none.
func ForwardedClient(values []string, proxies []netip.Prefix) string {
	for i := len(values) - 1; i >= 0; i-- {
		entries := strings.Split(values[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			e := strings.TrimSpace(entries[j])
			if e == "" {
				continue
			}
			a, err := netip.ParseAddr(e)
			if err != nil {
				// Some proxies write host:port ([v6]:port).
				ap, perr := netip.ParseAddrPort(e)
				if perr != nil {
					return e
				}
				a = ap.Addr()
			}
			a = a.Unmap()
			if inPrefixes(a, proxies) {
				continue
			}
			return a.String()
		}
	}
	return ""
}

// InPrefixes reports whether addr, an IP with or without a port, is in one
// of prefixes.
func InPrefixes(addr string, prefixes []netip.Prefix) bool {
	if len(prefixes) == 0 {
		return false
	}
	a, err := netip.ParseAddr(hostOnly(addr))
	return err == nil && inPrefixes(a.Unmap(), prefixes)
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a list of trusted proxies: IP addresses (one
// host each) or CIDR prefixes; empty entries are skipped. A prefix that
// holds every address is refused: it would let anyone name the address
// their requests are counted against (failure budgets, rate limits, the
// audit trail).
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range list {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		if a, err := netip.ParseAddr(f); err == nil {
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		} else if p, err = netip.ParsePrefix(f); err != nil {
			return nil, fmt.Errorf("%s: must be an IP address or a CIDR prefix such as 10.0.0.0/8", f)
		} else {
			p = p.Masked()
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%s: trusts every address, so anyone could choose the address their requests are counted against", f)
		}
		out = append(out, p)
	}
	return out, nil
}

// WithTrustedProxies names the reverse proxies in front of the service
// (load balancers, ingress): a request whose peer is one of them, or that a
// trusted forwarder passed on, takes the caller's address from
// X-Forwarded-For, skipping these proxies' own entries from the right. A
// forged header from anyone else changes nothing.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return func(v *Validator) { v.proxies = prefixes }
}

func hostOnly(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// With returns a copy of v with opts applied on top of v's own, sharing
// v's authenticators, caches, limiters and recorder: a gateway authorizer
// states which of its requests carry a certificate forwarded by a trusted
// gateway (WithTrustedForwarderPeer) this way.
func (v *Validator) With(opts ...Option) *Validator {
	c := *v
	for _, opt := range opts {
		opt(&c)
	}
	return &c
}

// WithRules returns a validator that enforces rules with everything else of
// v shared: authenticators and their caches, revocation checker, rate and
// failure limiters, recorder. A gateway authorizer swaps its route rules
// this way on reload without resetting any budget or cache.
func (v *Validator) WithRules(rules *Rules) *Validator {
	c := *v
	c.rules = rules
	return &c
}
