package clients

import (
	"context"
	"errors"
	"time"
)

// Errors every Store implementation returns, wrapped with context; callers
// test them with errors.Is. Backends translate driver errors into these.
var (
	// ErrNotFound: the client, key, secret or scope does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a unique key (client_id, key_id, scope name) is taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInUse: the scope is still granted to a client or an API key.
	ErrInUse = errors.New("in use")
)

// ClientType says whose app a client is.
type ClientType string

// Client types.
const (
	FirstParty ClientType = "first_party"
	ThirdParty ClientType = "third_party"
)

// Client is a registered OAuth client as the store keeps it.
type Client struct {
	ID                  string
	Name                string
	Type                ClientType
	Public              bool
	GrantTypes          []string
	RedirectURIs        []string
	Scopes              []string
	AuthMethod          string
	TLS                 TLSClientAuth
	AccessTokenLifetime time.Duration
	RateLimitTier       string
	Disabled            bool
	RequireConsent      bool
	// Resources are the RFC 8707 resource indicators the client may ask
	// tokens for; the one asked becomes the token's aud.
	Resources []string
	// RefreshTokenDelivery is how the token service hands the client its
	// refresh tokens: RefreshTokenDeliveryBody or RefreshTokenDeliveryCookie,
	// empty for a client without the refresh_token grant.
	RefreshTokenDelivery string
	// PostLogoutRedirectURIs are where the end-session endpoint may send
	// the user agent after logout (OpenID Connect RP-Initiated Logout 1.0
	// §3.1), compared by exact string; registered with the rules of
	// RedirectURIs. Only for clients with the authorization_code grant.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI is the client's back-channel logout endpoint
	// (OpenID Connect Back-Channel Logout 1.0 §2.2), to which the token
	// service posts logout tokens; empty for none.
	BackchannelLogoutURI string
	// BackchannelLogoutSessionRequired says the client needs the sid claim
	// in its logout tokens (Back-Channel Logout 1.0 §2.2); only with a
	// BackchannelLogoutURI.
	BackchannelLogoutSessionRequired bool
	// IDTokenLifetime is the lifetime of the ID tokens issued to the client;
	// zero means the token service's default.
	IDTokenLifetime time.Duration
	// DPoPBoundAccessTokens: the token endpoint refuses the client's
	// requests without a DPoP proof (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool
	// RequirePushedAuthorizationRequests: /oauth2/authorize takes the
	// client's requests only by a request_uri from /oauth2/par (RFC 9126 §6).
	RequirePushedAuthorizationRequests bool
	CreatedAt                          time.Time
	UpdatedAt                          time.Time
}

// TLSClientAuth binds a client to its certificate (RFC 8705 §2).
type TLSClientAuth struct {
	SubjectDN              string
	SANDNS                 string
	SANURI                 string
	SANIP                  string
	SANEmail               string
	CertificateThumbprints []string
	BoundAccessTokens      bool
}

// Secret is one client secret, stored as the SHA-256 of the secret.
type Secret struct {
	ClientID  string
	Hash      []byte    // 32 bytes
	CreatedAt time.Time // also identifies the secret within the client
	// ExpiresAt is zero for the current secret; a rotated-out secret keeps
	// working until then.
	ExpiresAt time.Time
}

// APIKey is an API key as stored: never the secret, only its SHA-256.
type APIKey struct {
	KeyID       string
	ClientID    string
	SecretHash  []byte // 32 bytes
	Scopes      []string
	Description string
	ExpiresAt   time.Time // zero: no expiry
	CreatedAt   time.Time
	LastUsedAt  time.Time // zero: never used
	Revoked     bool
	RevokedAt   time.Time // zero unless revoked
	ReplacedBy  string    // key_id of the key that replaced it at rotation
}

// Scope is an entry of the scope catalogue.
type Scope struct {
	Name        string
	Description string
	System      bool
	CreatedAt   time.Time
}

// ClientCursor is the position after which ListClients continues: clients are
// ordered by (CreatedAt, ID).
type ClientCursor struct {
	CreatedAt time.Time
	ID        string
}

// Store is what the client registry needs from storage. Every method is
// atomic: it either commits all of its writes or none.
type Store interface {
	// EnsureScopes inserts the scopes that do not exist yet and leaves the
	// others untouched.
	EnsureScopes(ctx context.Context, scopes []Scope) error
	// CreateScope inserts a scope; ErrAlreadyExists if the name is taken.
	CreateScope(ctx context.Context, s Scope) error
	// ListScopes returns the catalogue sorted by name.
	ListScopes(ctx context.Context) ([]Scope, error)
	// DeleteScope removes a scope; ErrNotFound if absent, ErrInUse if a
	// client or API key still has it.
	DeleteScope(ctx context.Context, name string) error

	// CreateClient inserts the client with its first secret (nil for public
	// clients and mTLS clients) and any initial API keys, all or nothing.
	// ErrAlreadyExists if the client_id or a key_id is taken.
	CreateClient(ctx context.Context, c Client, secret *Secret, keys ...APIKey) error
	// GetClient returns a client; ErrNotFound if absent.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns up to limit clients after the cursor (nil: from the
	// start), ordered by (CreatedAt, ID).
	ListClients(ctx context.Context, after *ClientCursor, limit int) ([]Client, error)
	// UpdateClient reads the client, applies update and writes the result in
	// one transaction; concurrent updates never lose each other's changes.
	// An error from update aborts and is returned unchanged.
	UpdateClient(ctx context.Context, id string, update func(*Client) error) (Client, error)
	// DeleteClient removes the client with its secrets and API keys.
	DeleteClient(ctx context.Context, id string) error

	// ListSecrets returns the client's secrets, newest first, expired ones
	// included until a rotation removes them.
	ListSecrets(ctx context.Context, clientID string) ([]Secret, error)
	// RotateSecret makes next the current secret: secrets without expiry get
	// previousExpiresAt, secrets already expired at next.CreatedAt are
	// deleted. ErrNotFound if the client does not exist.
	RotateSecret(ctx context.Context, next Secret, previousExpiresAt time.Time) error

	// CreateAPIKey inserts a key; ErrNotFound if its client does not exist,
	// ErrAlreadyExists if the key_id is taken.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns a key by key_id; ErrNotFound if absent.
	GetAPIKey(ctx context.Context, keyID string) (APIKey, error)
	// ListAPIKeys returns a client's keys, newest first.
	ListAPIKeys(ctx context.Context, clientID string) ([]APIKey, error)
	// UpdateAPIKey is UpdateClient for keys (revocation).
	UpdateAPIKey(ctx context.Context, keyID string, update func(*APIKey) error) (APIKey, error)
	// RotateAPIKey inserts next and, in the same transaction, sets the old
	// key's ExpiresAt (to oldExpiresAt, unless it already expires sooner) and
	// ReplacedBy. ErrNotFound if the old key does not exist.
	RotateAPIKey(ctx context.Context, oldKeyID string, next APIKey, oldExpiresAt time.Time) error
	// TouchAPIKey sets LastUsedAt to at when the stored value is older than
	// at minus minInterval (or unset); it never moves it backwards. Cheap:
	// one conditional UPDATE.
	TouchAPIKey(ctx context.Context, keyID string, at time.Time, minInterval time.Duration) error
}
