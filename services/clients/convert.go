package clients

import (
	"strings"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func clientTypeFromProto(t clientsv1.ClientType) ClientType {
	switch t {
	case clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY:
		return FirstParty
	case clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY:
		return ThirdParty
	default:
		return ""
	}
}

func clientTypeToProto(t ClientType) clientsv1.ClientType {
	switch t {
	case FirstParty:
		return clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY
	case ThirdParty:
		return clientsv1.ClientType_CLIENT_TYPE_THIRD_PARTY
	default:
		return clientsv1.ClientType_CLIENT_TYPE_UNSPECIFIED
	}
}

// TierName maps the proto tier to the name pkg/ratelimit uses.
func TierName(t clientsv1.RateLimitTier) string {
	if t == clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(t.String(), "RATE_LIMIT_TIER_"))
}

func tierToProto(name string) clientsv1.RateLimitTier {
	v, ok := clientsv1.RateLimitTier_value["RATE_LIMIT_TIER_"+strings.ToUpper(name)]
	if !ok {
		return clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED
	}
	return clientsv1.RateLimitTier(v)
}

// deliveryFromProto maps the proto refresh-token delivery to the stored
// name: "body", "cookie", "" when unspecified, "unknown" (refused by
// validation) for a value this build does not know.
func deliveryFromProto(d clientsv1.RefreshTokenDelivery) string {
	switch d {
	case clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_UNSPECIFIED:
		return ""
	case clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_BODY:
		return RefreshTokenDeliveryBody
	case clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_COOKIE:
		return RefreshTokenDeliveryCookie
	default:
		return "unknown"
	}
}

func deliveryToProto(name string) clientsv1.RefreshTokenDelivery {
	switch name {
	case RefreshTokenDeliveryBody:
		return clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_BODY
	case RefreshTokenDeliveryCookie:
		return clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_COOKIE
	default:
		return clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_UNSPECIFIED
	}
}

func clientFromProto(p *clientsv1.Client) Client {
	c := Client{
		ID:                   p.GetClientId(),
		Name:                 p.GetName(),
		Type:                 clientTypeFromProto(p.GetType()),
		Public:               p.GetPublic(),
		GrantTypes:           p.GetGrantTypes(),
		RedirectURIs:         p.GetRedirectUris(),
		Scopes:               p.GetScopes(),
		AuthMethod:           p.GetTokenEndpointAuthMethod(),
		RateLimitTier:        TierName(p.GetRateLimitTier()),
		Disabled:             p.GetDisabled(),
		RequireConsent:       p.GetRequireConsent(),
		Resources:            p.GetResources(),
		RefreshTokenDelivery: deliveryFromProto(p.GetRefreshTokenDelivery()),

		PostLogoutRedirectURIs:             p.GetPostLogoutRedirectUris(),
		BackchannelLogoutURI:               p.GetBackchannelLogoutUri(),
		BackchannelLogoutSessionRequired:   p.GetBackchannelLogoutSessionRequired(),
		DPoPBoundAccessTokens:              p.GetDpopBoundAccessTokens(),
		RequirePushedAuthorizationRequests: p.GetRequirePushedAuthorizationRequests(),
	}
	if p.GetType() != clientsv1.ClientType_CLIENT_TYPE_UNSPECIFIED && c.Type == "" {
		c.Type = ClientType("unknown")
	}
	if p.GetRateLimitTier() != clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED && c.RateLimitTier == "" {
		c.RateLimitTier = "unknown"
	}
	if p.GetAccessTokenLifetime() != nil {
		c.AccessTokenLifetime = p.GetAccessTokenLifetime().AsDuration()
	}
	if p.GetIdTokenLifetime() != nil {
		c.IDTokenLifetime = p.GetIdTokenLifetime().AsDuration()
	}
	c.TLS = tlsFromProto(p.GetTlsClientAuth())
	return c
}

func tlsFromProto(t *clientsv1.TLSClientAuth) TLSClientAuth {
	return TLSClientAuth{
		SubjectDN:              t.GetSubjectDn(),
		SANDNS:                 t.GetSanDns(),
		SANURI:                 t.GetSanUri(),
		SANIP:                  t.GetSanIp(),
		SANEmail:               t.GetSanEmail(),
		CertificateThumbprints: t.GetCertificateThumbprints(),
		BoundAccessTokens:      t.GetBoundAccessTokens(),
	}
}

func clientToProto(c Client) *clientsv1.Client {
	p := &clientsv1.Client{
		ClientId:                c.ID,
		Name:                    c.Name,
		Type:                    clientTypeToProto(c.Type),
		Public:                  c.Public,
		GrantTypes:              c.GrantTypes,
		RedirectUris:            c.RedirectURIs,
		Scopes:                  c.Scopes,
		TokenEndpointAuthMethod: c.AuthMethod,
		AccessTokenLifetime:     durationpb.New(c.AccessTokenLifetime),
		RateLimitTier:           tierToProto(c.RateLimitTier),
		Disabled:                c.Disabled,
		RequireConsent:          c.RequireConsent,
		Resources:               c.Resources,
		RefreshTokenDelivery:    deliveryToProto(c.RefreshTokenDelivery),
		CreateTime:              timestamppb.New(c.CreatedAt),
		UpdateTime:              timestamppb.New(c.UpdatedAt),

		PostLogoutRedirectUris:             c.PostLogoutRedirectURIs,
		BackchannelLogoutUri:               c.BackchannelLogoutURI,
		BackchannelLogoutSessionRequired:   c.BackchannelLogoutSessionRequired,
		DpopBoundAccessTokens:              c.DPoPBoundAccessTokens,
		RequirePushedAuthorizationRequests: c.RequirePushedAuthorizationRequests,
	}
	if c.IDTokenLifetime != 0 {
		// Unset means the token service's default.
		p.IdTokenLifetime = durationpb.New(c.IDTokenLifetime)
	}
	if c.TLS.SubjectDN != "" || c.TLS.SANDNS != "" || c.TLS.SANURI != "" || c.TLS.SANIP != "" ||
		c.TLS.SANEmail != "" || len(c.TLS.CertificateThumbprints) > 0 || c.TLS.BoundAccessTokens {
		p.TlsClientAuth = &clientsv1.TLSClientAuth{
			SubjectDn:              c.TLS.SubjectDN,
			SanDns:                 c.TLS.SANDNS,
			SanUri:                 c.TLS.SANURI,
			SanIp:                  c.TLS.SANIP,
			SanEmail:               c.TLS.SANEmail,
			CertificateThumbprints: c.TLS.CertificateThumbprints,
			BoundAccessTokens:      c.TLS.BoundAccessTokens,
		}
	}
	return p
}

func scopeToProto(s Scope) *clientsv1.Scope {
	return &clientsv1.Scope{
		Name:        s.Name,
		Description: s.Description,
		System:      s.System,
		CreateTime:  timestamppb.New(s.CreatedAt),
	}
}

func apiKeyToProto(k APIKey) *clientsv1.APIKey {
	return &clientsv1.APIKey{
		KeyId:        k.KeyID,
		ClientId:     k.ClientID,
		Scopes:       k.Scopes,
		ExpireTime:   optionalTime(k.ExpiresAt),
		CreateTime:   timestamppb.New(k.CreatedAt),
		LastUsedTime: optionalTime(k.LastUsedAt),
		Revoked:      k.Revoked,
		Description:  k.Description,
		RevokeTime:   optionalTime(k.RevokedAt),
		ReplacedBy:   k.ReplacedBy,
	}
}

func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
