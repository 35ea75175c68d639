package token

import (
	"slices"
	"strings"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/ratelimit"
)

// Values of the client registry the token service relies on (RFC 7591 §2
// names).
const (
	grantClientCredentials = "client_credentials"
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
	authSecretBasic        = "client_secret_basic"
	authSecretPost         = "client_secret_post"
	// authNone is a public client's method: client_id alone (RFC 7591
	// §2), for the grants that PKCE or a refresh token protect.
	authNone = "none"
	// ScopeIntrospect is the scope a client needs to call the
	// introspection endpoint. It sees the tokens whose audience is one of
	// its registered resources: a resource server sees its own tokens.
	ScopeIntrospect = "gatehouse:introspect"
	// ScopeIntrospectAll sees every token at introspection, as
	// gatehouse:admin does.
	ScopeIntrospectAll = "gatehouse:introspect.all"
	scopeAdmin         = "gatehouse:admin"
)

// client is the part of a registered client the token service uses,
// prepared once per verification and shared read-only by cache hits.
type client struct {
	id         string
	authMethod string
	grantTypes []string
	scopes     []string
	// defaultScope is scopes joined, the OpenID Connect ones left out: the
	// scope of a client_credentials request without one.
	defaultScope string
	resources    []string
	lifetime     time.Duration
	tier         string
	disabled     bool
	// introspectBudget is the Limiter key of the client's introspection
	// budget, made once here rather than on every request.
	introspectBudget string

	// For the authorization-code flow.
	name         string
	public       bool
	firstParty   bool
	redirectURIs []string
	// requireConsent asks the user even for a first-party client.
	requireConsent bool
	// origins are the origins of the redirect URIs: where a browser app
	// calls the token endpoint from.
	origins []string
	// refreshCookie: refresh tokens go in a cookie, not the body.
	refreshCookie bool
	// tls is the certificate binding of an mTLS client.
	tls tlsAuth
	// dpopBound: every token request must carry a DPoP proof (RFC 9449
	// §5.2, dpop_bound_access_tokens).
	dpopBound bool
	// requirePAR: the client's authorization requests must be pushed (RFC
	// 9126 §6, require_pushed_authorization_requests).
	requirePAR bool

	// OpenID Connect.
	idTokenLifetime           time.Duration
	postLogoutRedirectURIs    []string
	backchannelLogoutURI      string
	backchannelLogoutNeedsSID bool
}

func clientFromProto(p *clientsv1.Client) *client {
	return &client{
		id:           p.GetClientId(),
		authMethod:   p.GetTokenEndpointAuthMethod(),
		grantTypes:   slices.Clone(p.GetGrantTypes()),
		scopes:       slices.Clone(p.GetScopes()),
		defaultScope: strings.Join(slices.DeleteFunc(slices.Clone(p.GetScopes()), func(s string) bool { return slices.Contains(oidcScopes, s) }), " "),
		resources:    slices.Clone(p.GetResources()),
		lifetime:     p.GetAccessTokenLifetime().AsDuration(),
		tier:         tierName(p.GetRateLimitTier()),
		disabled:     p.GetDisabled(),

		introspectBudget: introspectBudgetKey(p.GetClientId()),

		name:           p.GetName(),
		public:         p.GetPublic(),
		firstParty:     p.GetType() == clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		redirectURIs:   slices.Clone(p.GetRedirectUris()),
		requireConsent: p.GetRequireConsent(),
		origins:        originsOf(p.GetRedirectUris()),
		refreshCookie:  p.GetRefreshTokenDelivery() == clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_COOKIE,
		tls:            tlsAuthFromProto(p.GetTlsClientAuth()),
		dpopBound:      p.GetDpopBoundAccessTokens(),
		requirePAR:     p.GetRequirePushedAuthorizationRequests(),

		idTokenLifetime:           p.GetIdTokenLifetime().AsDuration(),
		postLogoutRedirectURIs:    slices.Clone(p.GetPostLogoutRedirectUris()),
		backchannelLogoutURI:      p.GetBackchannelLogoutUri(),
		backchannelLogoutNeedsSID: p.GetBackchannelLogoutSessionRequired(),
	}
}

// tierName maps the proto tier to pkg/ratelimit's tier names.
func tierName(t clientsv1.RateLimitTier) string {
	switch t {
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_LOW:
		return ratelimit.TierLow
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_HIGH:
		return ratelimit.TierHigh
	case clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL:
		return ratelimit.TierInternal
	default:
		return ratelimit.TierStandard
	}
}

func (c *client) allowsGrant(g string) bool { return slices.Contains(c.grantTypes, g) }

func (c *client) allowsScope(s string) bool { return slices.Contains(c.scopes, s) }
