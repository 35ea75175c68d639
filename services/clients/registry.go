package clients

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/internal/pagetoken"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	defaultGracePeriod = 24 * time.Hour
	maxGracePeriod     = 30 * 24 * time.Hour
	maxAPIKeyTTL       = 2 * 365 * 24 * time.Hour
	minAPIKeyTTL       = time.Minute
	// lastUsedInterval bounds how often verification writes last_used_at.
	lastUsedInterval = time.Minute
	defaultPageSize  = 100
	maxPageSize      = 500
	// ReservedScopePrefix marks the platform's own scopes; admins cannot
	// create or delete them.
	ReservedScopePrefix = "gatehouse:"
)

// Publisher sends ClientChanged events after a change commits. Delivery is
// best effort: validators' caches also expire on their own.
type Publisher interface {
	PublishClientChanged(ctx context.Context, ev *eventsv1.ClientChanged) error
}

// Revoker records revocations in the revocation list, the one path by
// which every validator learns of them (satisfied by the revocation
// service, in process or through its gRPC client).
type Revoker interface {
	Revoke(ctx context.Context, req *revocationv1.RevokeRequest) (*revocationv1.RevokeResponse, error)
}

// Registry is the client registry service: it implements the gRPC
// ClientRegistryService over a Store.
type Registry struct {
	clientsv1.UnimplementedClientRegistryServiceServer

	store   Store
	pub     Publisher
	revoker Revoker
	log     *slog.Logger
	now     func() time.Time
	random  func([]byte) error
}

// Option configures a Registry.
type Option func(*Registry)

// WithPublisher sets where ClientChanged events go.
func WithPublisher(p Publisher) Option { return func(r *Registry) { r.pub = p } }

// WithRevoker records revoked API keys, disabled and deleted clients in
// the revocation list. Without it validators learn of them only from
// ClientChanged events and their caches' expiry.
func WithRevoker(rv Revoker) Option { return func(r *Registry) { r.revoker = rv } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(r *Registry) { r.log = l } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// New returns a Registry over store.
func New(store Store, opts ...Option) *Registry {
	r := &Registry{
		store:  guardedStore{store},
		log:    slog.New(slog.DiscardHandler),
		now:    time.Now,
		random: func(b []byte) error { _, err := rand.Read(b); return err },
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

var _ clientsv1.ClientRegistryServiceServer = (*Registry)(nil)

func (r *Registry) clock() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

// The OpenID Connect scopes (OpenID Connect Core 1.0 §3.1.2.1, §5.4).
const (
	ScopeOpenID  = "openid"
	ScopeProfile = "profile"
	ScopeEmail   = "email"
)

// standardScopes are the catalogue entries every registry has besides the
// platform's own: system scopes like them (seeded, never deleted), which a
// client may be granted as it may any other. A third-party client gets them
// only when registered for them.
var standardScopes = []Scope{
	{Name: ScopeOpenID, Description: "Sign in with OpenID Connect: an ID token identifying the user"},
	{Name: ScopeProfile, Description: "The user's basic profile: names, preferred username and locale"},
	{Name: ScopeEmail, Description: "The user's email address and whether it is verified"},
}

// IsStandardScope reports whether name is one of the OpenID Connect scopes
// every catalogue has.
func IsStandardScope(name string) bool {
	return slices.ContainsFunc(standardScopes, func(s Scope) bool { return s.Name == name })
}

// platformScopeDescriptions tell admins what the platform scopes they
// grant by hand are for; the others are described generically.
var platformScopeDescriptions = map[string]string{
	AdminScope:        "Gatehouse administration: every admin API",
	AdminReadScope:    "Gatehouse administration, read only: clients, scopes, API keys, users, signing keys, certificates, revocations",
	AdminClientsScope: "Gatehouse administration: manage clients, scopes and API keys",
	AdminUsersScope:   "Gatehouse administration: manage users",
	AdminKeysScope:    "Gatehouse administration: rotate signing keys, issue client certificates",
	AdminRevokeScope:  "Gatehouse administration: add to the revocation list",
	ValidatorScope: "A resource service validating its own callers: read the revocation list, " +
		"verify the API keys presented to it, read clients' tiers and names; " +
		"no client secrets, signing keys, revoking or admin",
}

// ScopeDescription is the catalogue's description of a scope Gatehouse
// seeds (a platform or OpenID Connect scope), which the API description
// repeats.
func ScopeDescription(name string) string {
	if i := slices.IndexFunc(standardScopes, func(s Scope) bool { return s.Name == name }); i >= 0 {
		return standardScopes[i].Description
	}
	if d := platformScopeDescriptions[name]; d != "" {
		return d
	}
	return "Gatehouse platform scope"
}

// SeedScopes makes sure the given platform scopes, and the OpenID Connect
// scopes openid, profile and email, are in the catalogue as system scopes.
// Scopes already there are left as they are.
func (r *Registry) SeedScopes(ctx context.Context, names []string) error {
	now := r.clock()
	scopes := make([]Scope, 0, len(names)+len(standardScopes))
	for _, n := range names {
		scopes = append(scopes, Scope{Name: n, Description: ScopeDescription(n), System: true, CreatedAt: now})
	}
	for _, s := range standardScopes {
		s.System, s.CreatedAt = true, now
		scopes = append(scopes, s)
	}
	if err := r.store.EnsureScopes(ctx, scopes); err != nil {
		return fmt.Errorf("clients: seed scopes: %w", err)
	}
	return nil
}

// --- clients ---

// CreateClient implements ClientRegistryService.
func (r *Registry) CreateClient(ctx context.Context, req *clientsv1.CreateClientRequest) (*clientsv1.CreateClientResponse, error) {
	if req.GetClient() == nil {
		return nil, r.toStatus(ctx, fieldErr("client", "required"))
	}
	c := clientFromProto(req.GetClient())
	c.Disabled = false
	resp, err := r.createClient(ctx, c)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	return resp, nil
}

func (r *Registry) createClient(ctx context.Context, c Client, keys ...APIKey) (*clientsv1.CreateClientResponse, error) {
	c.normalize()
	catalogue, err := r.catalogue(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.validate(catalogue); err != nil {
		return nil, err
	}
	id, err := r.newID("c")
	if err != nil {
		return nil, err
	}
	now := r.clock()
	c.ID, c.CreatedAt, c.UpdatedAt = id, now, now
	var secret *Secret
	var raw string
	if usesSecret(c) {
		raw, secret, err = r.newSecret(c.ID, now)
		if err != nil {
			return nil, err
		}
	}
	for i := range keys {
		keys[i].ClientID = c.ID
	}
	if err := r.store.CreateClient(ctx, c, secret, keys...); err != nil {
		return nil, err
	}
	r.publish(ctx, c.ID, eventsv1.ClientChanged_CHANGE_CREATED, "")
	return &clientsv1.CreateClientResponse{Client: clientToProto(c), ClientSecret: raw}, nil
}

func usesSecret(c Client) bool {
	return c.AuthMethod == AuthSecretBasic || c.AuthMethod == AuthSecretPost // not-secret: compares method names
}

// GetClient implements ClientRegistryService.
func (r *Registry) GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	c, err := r.store.GetClient(ctx, req.GetClientId())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if p, ok := authn.FromContext(ctx); ok && p.HasScope(ValidatorScope) && !p.HasScope(AdminScope) && !p.HasScope(InternalScope) {
		// gatehouse:validator alone: a resource service outside Gatehouse
		// has no use for where a client redirects or logs out. Only that
		// caller is narrowed: the token service calls in process with the
		// context of its own caller's request, whose principal may hold
		// any scope, and needs the whole client.
		return &clientsv1.GetClientResponse{Client: validatorView(clientToProto(c))}, nil
	}
	return &clientsv1.GetClientResponse{Client: clientToProto(c)}, nil
}

// validatorView is what pkg/authn reads of a client to validate its
// callers: the certificate binding and scopes (the certificate alone as a
// credential), the rate-limit tier, whether it is disabled, and its name
// for logs.
func validatorView(c *clientsv1.Client) *clientsv1.Client {
	return &clientsv1.Client{
		ClientId:                c.GetClientId(),
		Name:                    c.GetName(),
		Type:                    c.GetType(),
		Public:                  c.GetPublic(),
		Scopes:                  c.GetScopes(),
		TokenEndpointAuthMethod: c.GetTokenEndpointAuthMethod(),
		TlsClientAuth:           c.GetTlsClientAuth(),
		RateLimitTier:           c.GetRateLimitTier(),
		Disabled:                c.GetDisabled(),
	}
}

// ListClients implements ClientRegistryService.
func (r *Registry) ListClients(ctx context.Context, req *clientsv1.ListClientsRequest) (*clientsv1.ListClientsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = defaultPageSize
	case size < 0 || size > maxPageSize:
		return nil, r.toStatus(ctx, fieldErr("page_size", "must be between 1 and %d", maxPageSize))
	}
	cursor, err := decodeCursor(req.GetPageToken())
	if err != nil {
		return nil, r.toStatus(ctx, fieldErr("page_token", "invalid"))
	}
	// One extra row tells whether another page exists.
	list, err := r.store.ListClients(ctx, cursor, size+1)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	resp := &clientsv1.ListClientsResponse{}
	if len(list) > size {
		list = list[:size]
		last := list[len(list)-1]
		resp.NextPageToken = encodeCursor(ClientCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	for _, c := range list {
		resp.Clients = append(resp.Clients, clientToProto(c))
	}
	return resp, nil
}

func encodeCursor(c ClientCursor) string { return pagetoken.Encode(c.CreatedAt, c.ID) }

func decodeCursor(tok string) (*ClientCursor, error) {
	created, id, ok, err := pagetoken.Decode(tok)
	if !ok || err != nil {
		return nil, err
	}
	return &ClientCursor{CreatedAt: created, ID: id}, nil
}

// updatable lists the field-mask paths UpdateClient accepts.
var updatable = []string{
	"name", "grant_types", "redirect_uris", "scopes", "token_endpoint_auth_method",
	"tls_client_auth", "access_token_lifetime", "rate_limit_tier", "disabled", "require_consent",
	"resources", "refresh_token_delivery",
	"post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required", "id_token_lifetime",
	"dpop_bound_access_tokens", "require_pushed_authorization_requests",
}

// UpdateClient implements ClientRegistryService.
func (r *Registry) UpdateClient(ctx context.Context, req *clientsv1.UpdateClientRequest) (*clientsv1.UpdateClientResponse, error) {
	in := req.GetClient()
	if in == nil || in.GetClientId() == "" {
		return nil, r.toStatus(ctx, fieldErr("client.client_id", "required"))
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, r.toStatus(ctx, fieldErr("update_mask", "name at least one field to change"))
	}
	for _, p := range paths {
		if !slices.Contains(updatable, p) {
			return nil, r.toStatus(ctx, fieldErr("update_mask", "%q cannot be changed (allowed: %s)", p, strings.Join(updatable, ", ")))
		}
	}
	catalogue, err := r.catalogue(ctx)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	patch := clientFromProto(in)
	var wasDisabled bool
	updated, err := r.store.UpdateClient(ctx, in.GetClientId(), func(c *Client) error {
		wasDisabled = c.Disabled
		for _, p := range paths {
			switch p {
			case "name":
				c.Name = patch.Name
			case "grant_types":
				c.GrantTypes = patch.GrantTypes
			case "redirect_uris":
				c.RedirectURIs = patch.RedirectURIs
			case "scopes":
				c.Scopes = patch.Scopes
			case "token_endpoint_auth_method":
				c.AuthMethod = patch.AuthMethod
			case "tls_client_auth":
				c.TLS = patch.TLS
			case "access_token_lifetime":
				c.AccessTokenLifetime = patch.AccessTokenLifetime
			case "rate_limit_tier":
				c.RateLimitTier = patch.RateLimitTier
			case "disabled":
				c.Disabled = patch.Disabled
			case "require_consent":
				c.RequireConsent = patch.RequireConsent
			case "resources":
				c.Resources = patch.Resources
			case "refresh_token_delivery":
				c.RefreshTokenDelivery = patch.RefreshTokenDelivery
			case "post_logout_redirect_uris":
				c.PostLogoutRedirectURIs = patch.PostLogoutRedirectURIs
			case "backchannel_logout_uri":
				c.BackchannelLogoutURI = patch.BackchannelLogoutURI
			case "backchannel_logout_session_required":
				c.BackchannelLogoutSessionRequired = patch.BackchannelLogoutSessionRequired
			case "id_token_lifetime":
				c.IDTokenLifetime = patch.IDTokenLifetime
			case "dpop_bound_access_tokens":
				c.DPoPBoundAccessTokens = patch.DPoPBoundAccessTokens
			case "require_pushed_authorization_requests":
				c.RequirePushedAuthorizationRequests = patch.RequirePushedAuthorizationRequests
			}
		}
		if c.RefreshTokenDelivery == RefreshTokenDeliveryBody && !slices.Contains(paths, "refresh_token_delivery") {
			// Body is the default and follows the grant: normalize sets it
			// again if the client still has refresh_token, and a client
			// that lost the grant loses it. Cookie is an explicit choice and
			// stays, to be validated.
			c.RefreshTokenDelivery = ""
		}
		if c.AuthMethod == "" {
			return fieldErr("token_endpoint_auth_method", "required")
		}
		c.normalize()
		if err := c.validate(catalogue); err != nil {
			return err
		}
		c.UpdatedAt = r.clock()
		return nil
	})
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	change := eventsv1.ClientChanged_CHANGE_UPDATED
	if updated.Disabled && !wasDisabled {
		change = eventsv1.ClientChanged_CHANGE_DISABLED
	}
	r.publish(ctx, updated.ID, change, "")
	if updated.Disabled && slices.Contains(paths, "disabled") {
		// Recorded on every update that sets disabled, not only on the
		// transition, so a retry after a failed revocation records it.
		if err := r.revoke(ctx, revocationv1.Kind_KIND_CLIENT, updated.ID, "client disabled", time.Time{}); err != nil {
			return nil, r.toStatus(ctx, err)
		}
	}
	return &clientsv1.UpdateClientResponse{Client: clientToProto(updated)}, nil
}

// DeleteClient implements ClientRegistryService.
func (r *Registry) DeleteClient(ctx context.Context, req *clientsv1.DeleteClientRequest) (*clientsv1.DeleteClientResponse, error) {
	if _, err := r.store.GetClient(ctx, req.GetClientId()); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	// Revoked before the delete: if the revocation fails the client is
	// still there and the delete can be retried.
	if err := r.revoke(ctx, revocationv1.Kind_KIND_CLIENT, req.GetClientId(), "client deleted", time.Time{}); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if err := r.store.DeleteClient(ctx, req.GetClientId()); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	r.publish(ctx, req.GetClientId(), eventsv1.ClientChanged_CHANGE_DELETED, "")
	return &clientsv1.DeleteClientResponse{}, nil
}

// --- client secrets ---

// RotateClientSecret implements ClientRegistryService.
func (r *Registry) RotateClientSecret(ctx context.Context, req *clientsv1.RotateClientSecretRequest) (*clientsv1.RotateClientSecretResponse, error) {
	grace, err := gracePeriod(req.GetGracePeriod() != nil, req.GetGracePeriod().AsDuration())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	c, err := r.store.GetClient(ctx, req.GetClientId())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if !usesSecret(c) {
		return nil, r.toStatus(ctx, status.Errorf(codes.FailedPrecondition, "client %s does not authenticate with a secret", c.ID))
	}
	now := r.clock()
	raw, secret, err := r.newSecret(c.ID, now)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	prevExpiry := now.Add(grace)
	if err := r.store.RotateSecret(ctx, *secret, prevExpiry); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	r.publish(ctx, c.ID, eventsv1.ClientChanged_CHANGE_SECRET_ROTATED, "")
	return &clientsv1.RotateClientSecretResponse{ClientSecret: raw, PreviousSecretExpireTime: timestamppb.New(prevExpiry)}, nil
}

func gracePeriod(set bool, d time.Duration) (time.Duration, error) {
	if !set {
		return defaultGracePeriod, nil
	}
	if d < 0 || d > maxGracePeriod {
		return 0, fieldErr("grace_period", "must be between 0 and %s", maxGracePeriod)
	}
	return d, nil
}

// VerifyClientSecret implements ClientRegistryService. Every unknown client,
// disabled client or wrong secret gets the same Unauthenticated answer.
func (r *Registry) VerifyClientSecret(ctx context.Context, req *clientsv1.VerifyClientSecretRequest) (*clientsv1.VerifyClientSecretResponse, error) {
	c, ok, err := r.checkSecret(ctx, req.GetClientId(), req.GetClientSecret())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "invalid client credentials")
	}
	return &clientsv1.VerifyClientSecretResponse{Client: clientToProto(c)}, nil
}

func (r *Registry) checkSecret(ctx context.Context, clientID, presented string) (Client, bool, error) {
	c, err := r.store.GetClient(ctx, clientID)
	if errors.Is(err, ErrNotFound) {
		return Client{}, false, nil
	}
	if err != nil {
		return Client{}, false, err
	}
	secrets, err := r.store.ListSecrets(ctx, clientID)
	if err != nil {
		return Client{}, false, err
	}
	now := r.clock()
	sum := sha256.Sum256([]byte(presented))
	match := 0
	// Compare against every live secret without stopping early, in constant
	// time over fixed-length digests.
	for _, s := range secrets {
		live := s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt)
		eq := subtle.ConstantTimeCompare(sum[:], s.Hash)
		if live {
			match |= eq
		}
	}
	if match != 1 || c.Disabled || !usesSecret(c) {
		return Client{}, false, nil
	}
	return c, true, nil
}

// --- scopes ---

// CreateScope implements ClientRegistryService.
func (r *Registry) CreateScope(ctx context.Context, req *clientsv1.CreateScopeRequest) (*clientsv1.CreateScopeResponse, error) {
	s := Scope{Name: req.GetScope().GetName(), Description: req.GetScope().GetDescription(), CreatedAt: r.clock()}
	if err := validateScopeName(s.Name); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if strings.HasPrefix(s.Name, ReservedScopePrefix) {
		return nil, r.toStatus(ctx, fieldErr("scope.name", "the %q prefix is reserved for Gatehouse", ReservedScopePrefix))
	}
	if len(s.Description) > 1000 {
		return nil, r.toStatus(ctx, fieldErr("scope.description", "at most 1000 characters"))
	}
	if err := r.store.CreateScope(ctx, s); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	return &clientsv1.CreateScopeResponse{Scope: scopeToProto(s)}, nil
}

// ListScopes implements ClientRegistryService.
func (r *Registry) ListScopes(ctx context.Context, _ *clientsv1.ListScopesRequest) (*clientsv1.ListScopesResponse, error) {
	list, err := r.store.ListScopes(ctx)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	resp := &clientsv1.ListScopesResponse{}
	for _, s := range list {
		resp.Scopes = append(resp.Scopes, scopeToProto(s))
	}
	return resp, nil
}

// DeleteScope implements ClientRegistryService.
func (r *Registry) DeleteScope(ctx context.Context, req *clientsv1.DeleteScopeRequest) (*clientsv1.DeleteScopeResponse, error) {
	if strings.HasPrefix(req.GetName(), ReservedScopePrefix) || IsStandardScope(req.GetName()) {
		return nil, r.toStatus(ctx, status.Errorf(codes.FailedPrecondition, "scope %q is a Gatehouse system scope", req.GetName()))
	}
	if err := r.store.DeleteScope(ctx, req.GetName()); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	return &clientsv1.DeleteScopeResponse{}, nil
}

func (r *Registry) catalogue(ctx context.Context) (map[string]bool, error) {
	list, err := r.store.ListScopes(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s.Name] = true
	}
	return m, nil
}

// --- API keys ---

// CreateAPIKey implements ClientRegistryService.
func (r *Registry) CreateAPIKey(ctx context.Context, req *clientsv1.CreateAPIKeyRequest) (*clientsv1.CreateAPIKeyResponse, error) {
	c, err := r.store.GetClient(ctx, req.GetClientId())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if c.Disabled {
		return nil, r.toStatus(ctx, status.Errorf(codes.FailedPrecondition, "client %s is disabled", c.ID))
	}
	now := r.clock()
	k := APIKey{ClientID: c.ID, Scopes: dedupe(req.GetScopes()), Description: req.GetDescription(), CreatedAt: now}
	if err := validateKeyScopes(k.Scopes, c.Scopes); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if len(k.Description) > 1000 {
		return nil, r.toStatus(ctx, fieldErr("description", "at most 1000 characters"))
	}
	if req.GetTtl() != nil {
		ttl := req.GetTtl().AsDuration()
		if ttl < minAPIKeyTTL || ttl > maxAPIKeyTTL {
			return nil, r.toStatus(ctx, fieldErr("ttl", "must be between %s and %s", minAPIKeyTTL, maxAPIKeyTTL))
		}
		k.ExpiresAt = now.Add(ttl)
	}
	raw, err := r.fillKey(&k)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if err := r.store.CreateAPIKey(ctx, k); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	r.publish(ctx, c.ID, eventsv1.ClientChanged_CHANGE_API_KEY_CREATED, k.KeyID)
	return &clientsv1.CreateAPIKeyResponse{ApiKey: raw, Key: apiKeyToProto(k)}, nil
}

func validateKeyScopes(scopes, allowed []string) error {
	if len(scopes) == 0 {
		return fieldErr("scopes", "an API key needs at least one scope")
	}
	for _, s := range scopes {
		if !slices.Contains(allowed, s) {
			return fieldErr("scopes", "scope %q is not allowed to the client", s)
		}
	}
	return nil
}

// fillKey gives k a fresh key_id and secret hash and returns the raw key.
func (r *Registry) fillKey(k *APIKey) (string, error) {
	key, err := apikey.New()
	if err != nil {
		return "", err
	}
	sum := apikey.HashSecret(key.Secret)
	k.KeyID, k.SecretHash = key.ID, sum[:]
	return key.String(), nil
}

// ListAPIKeys implements ClientRegistryService.
func (r *Registry) ListAPIKeys(ctx context.Context, req *clientsv1.ListAPIKeysRequest) (*clientsv1.ListAPIKeysResponse, error) {
	if _, err := r.store.GetClient(ctx, req.GetClientId()); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	keys, err := r.store.ListAPIKeys(ctx, req.GetClientId())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	resp := &clientsv1.ListAPIKeysResponse{}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, apiKeyToProto(k))
	}
	return resp, nil
}

// ownedKey returns a key of the client; a key of another client is
// NotFound, so ids cannot be probed across clients.
func (r *Registry) ownedKey(ctx context.Context, clientID, keyID string) (APIKey, error) {
	k, err := r.store.GetAPIKey(ctx, keyID)
	if err != nil {
		return APIKey{}, err
	}
	if k.ClientID != clientID {
		return APIKey{}, fmt.Errorf("api key %s of client %s: %w", keyID, clientID, ErrNotFound)
	}
	return k, nil
}

// RotateAPIKey implements ClientRegistryService.
func (r *Registry) RotateAPIKey(ctx context.Context, req *clientsv1.RotateAPIKeyRequest) (*clientsv1.RotateAPIKeyResponse, error) {
	grace, err := gracePeriod(req.GetGracePeriod() != nil, req.GetGracePeriod().AsDuration())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	old, err := r.ownedKey(ctx, req.GetClientId(), req.GetKeyId())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	now := r.clock()
	if old.Revoked || (!old.ExpiresAt.IsZero() && !now.Before(old.ExpiresAt)) {
		return nil, r.toStatus(ctx, status.Errorf(codes.FailedPrecondition, "api key %s is revoked or expired", old.KeyID))
	}
	if old.ReplacedBy != "" {
		return nil, r.toStatus(ctx, status.Errorf(codes.FailedPrecondition, "api key %s was already rotated to %s", old.KeyID, old.ReplacedBy))
	}
	next := APIKey{ClientID: old.ClientID, Scopes: old.Scopes, Description: old.Description, CreatedAt: now}
	if !old.ExpiresAt.IsZero() {
		// Same lifetime as the original key, counted from now.
		next.ExpiresAt = now.Add(old.ExpiresAt.Sub(old.CreatedAt))
	}
	raw, err := r.fillKey(&next)
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	oldExpiry := now.Add(grace)
	if err := r.store.RotateAPIKey(ctx, old.KeyID, next, oldExpiry); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if !old.ExpiresAt.IsZero() && old.ExpiresAt.Before(oldExpiry) {
		oldExpiry = old.ExpiresAt
	}
	r.publish(ctx, old.ClientID, eventsv1.ClientChanged_CHANGE_API_KEY_ROTATED, old.KeyID)
	return &clientsv1.RotateAPIKeyResponse{ApiKey: raw, Key: apiKeyToProto(next), PreviousKeyExpireTime: timestamppb.New(oldExpiry)}, nil
}

// RevokeAPIKey implements ClientRegistryService. Revoking twice is not an
// error; the first revocation time is kept.
func (r *Registry) RevokeAPIKey(ctx context.Context, req *clientsv1.RevokeAPIKeyRequest) (*clientsv1.RevokeAPIKeyResponse, error) {
	owned, err := r.ownedKey(ctx, req.GetClientId(), req.GetKeyId())
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	// The list first: revoking there is idempotent, so a failure after it
	// is mended by retrying, and validators refuse the key from now on.
	if err := r.revoke(ctx, revocationv1.Kind_KIND_API_KEY, owned.KeyID, "api key revoked", owned.ExpiresAt); err != nil {
		return nil, r.toStatus(ctx, err)
	}
	now := r.clock()
	k, err := r.store.UpdateAPIKey(ctx, req.GetKeyId(), func(k *APIKey) error {
		if !k.Revoked {
			k.Revoked, k.RevokedAt = true, now
		}
		return nil
	})
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	r.publish(ctx, k.ClientID, eventsv1.ClientChanged_CHANGE_API_KEY_REVOKED, k.KeyID)
	return &clientsv1.RevokeAPIKeyResponse{Key: apiKeyToProto(k)}, nil
}

// VerifyAPIKey implements ClientRegistryService. A refused key is a normal
// answer (failure set), not an error: errors mean the registry could not
// decide.
func (r *Registry) VerifyAPIKey(ctx context.Context, req *clientsv1.VerifyAPIKeyRequest) (*clientsv1.VerifyAPIKeyResponse, error) {
	refuse := func(f clientsv1.APIKeyFailure, keyID, clientID string) (*clientsv1.VerifyAPIKeyResponse, error) {
		return &clientsv1.VerifyAPIKeyResponse{Failure: f, KeyId: keyID, ClientId: clientID}, nil
	}
	key, err := apikey.Parse(req.GetApiKey())
	if err != nil {
		return refuse(clientsv1.APIKeyFailure_API_KEY_FAILURE_MALFORMED, "", "")
	}
	k, err := r.store.GetAPIKey(ctx, key.ID)
	if errors.Is(err, ErrNotFound) {
		return refuse(clientsv1.APIKeyFailure_API_KEY_FAILURE_UNKNOWN, key.ID, "")
	}
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	sum := apikey.HashSecret(key.Secret)
	if subtle.ConstantTimeCompare(sum[:], k.SecretHash) != 1 {
		// The key_id is public; a wrong secret is the same as no key.
		return refuse(clientsv1.APIKeyFailure_API_KEY_FAILURE_UNKNOWN, key.ID, "")
	}
	now := r.clock()
	switch {
	case k.Revoked:
		return refuse(clientsv1.APIKeyFailure_API_KEY_FAILURE_REVOKED, k.KeyID, k.ClientID)
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return refuse(clientsv1.APIKeyFailure_API_KEY_FAILURE_EXPIRED, k.KeyID, k.ClientID)
	}
	c, err := r.store.GetClient(ctx, k.ClientID)
	if errors.Is(err, ErrNotFound) || (err == nil && c.Disabled) {
		return refuse(clientsv1.APIKeyFailure_API_KEY_FAILURE_CLIENT_DISABLED, k.KeyID, k.ClientID)
	}
	if err != nil {
		return nil, r.toStatus(ctx, err)
	}
	if err := r.store.TouchAPIKey(ctx, k.KeyID, now, lastUsedInterval); err != nil {
		// Bookkeeping only: the key is still good.
		r.log.WarnContext(ctx, "api key last-used update failed", "key_id", k.KeyID, "error", err)
	}
	// A key's scopes are bounded by its client's current scopes, so
	// narrowing a client narrows its keys at once.
	var scopes []string
	for _, s := range k.Scopes {
		if slices.Contains(c.Scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return &clientsv1.VerifyAPIKeyResponse{
		KeyId:         k.KeyID,
		ClientId:      k.ClientID,
		Scopes:        scopes,
		RateLimitTier: tierToProto(c.RateLimitTier),
		ExpireTime:    optionalTime(k.ExpiresAt),
		CreateTime:    timestamppb.New(k.CreatedAt),
	}, nil
}

// --- helpers ---

func (r *Registry) newID(prefix string) (string, error) {
	b := make([]byte, 15)
	if err := r.random(b); err != nil {
		return "", fmt.Errorf("clients: read random: %w", err)
	}
	return prefix + "_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)), nil
}

// newSecret returns a 256-bit client secret and its stored form.
func (r *Registry) newSecret(clientID string, now time.Time) (string, *Secret, error) {
	b := make([]byte, 32)
	if err := r.random(b); err != nil {
		return "", nil, fmt.Errorf("clients: read random: %w", err)
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(raw))
	return raw, &Secret{ClientID: clientID, Hash: sum[:], CreatedAt: now}, nil
}

func (r *Registry) publish(ctx context.Context, clientID string, change eventsv1.ClientChanged_Change, keyID string) {
	if r.pub == nil {
		return
	}
	ev := &eventsv1.ClientChanged{ClientId: clientID, Change: change, KeyId: keyID, ChangeTime: timestamppb.New(r.clock())}
	if err := r.pub.PublishClientChanged(ctx, ev); err != nil {
		// Validators' caches expire on their own within their TTL.
		r.log.WarnContext(ctx, "publish ClientChanged failed", "client_id", clientID, "change", change.String(), "error", err)
	}
}

// revoke records a revocation when a Revoker is configured. expires is
// when the revoked thing would stop working anyway (zero: never).
func (r *Registry) revoke(ctx context.Context, kind revocationv1.Kind, id, reason string, expires time.Time) error {
	if r.revoker == nil {
		return nil
	}
	req := &revocationv1.RevokeRequest{Kind: kind, Id: id, Reason: reason}
	if !expires.IsZero() {
		if !expires.After(r.now()) {
			return nil // already expired: nothing left to revoke
		}
		req.ExpireTime = timestamppb.New(expires)
	}
	if _, err := r.revoker.Revoke(ctx, req); err != nil {
		r.log.ErrorContext(ctx, "record revocation failed", "kind", kind.String(), "id", id, "error", err)
		return status.Error(codes.Unavailable, "the revocation list is unavailable; retry")
	}
	return nil
}

// toStatus maps an error to a gRPC status once, at the API boundary.
// Internal details are logged, never returned.
func (r *Registry) toStatus(ctx context.Context, err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		st := status.New(codes.InvalidArgument, fe.Error())
		if d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fe.Field, Description: fe.Reason}}}); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, ErrAlreadyExists):
		return status.Error(codes.AlreadyExists, "already exists")
	case errors.Is(err, ErrInUse):
		return status.Error(codes.FailedPrecondition, "still in use by a client or an API key")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case database.IsUnavailable(err):
		// The store is away (a database restart, a network cut): the
		// caller may retry, and the token endpoint answers 503, not 500.
		r.log.WarnContext(ctx, "client registry store unavailable", "error", err)
		return status.Error(codes.Unavailable, "the client registry is unavailable; retry")
	}
	r.log.ErrorContext(ctx, "client registry error", "error", err)
	return status.Error(codes.Internal, "internal error")
}
