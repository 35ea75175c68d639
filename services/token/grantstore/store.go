package grantstore

import (
	"context"
	"errors"
	"time"
)

// Errors every Store returns, wrapped with context; callers test them with
// errors.Is.
var (
	ErrNotFound = errors.New("grantstore: not found")
	ErrExists   = errors.New("grantstore: already exists")
	// ErrCodeRedeemed: the code was redeemed before (a replay). RedeemCode
	// returns it together with the code record, so the caller can revoke
	// what the first redemption issued.
	ErrCodeRedeemed = errors.New("grantstore: code already redeemed")
	ErrExpired      = errors.New("grantstore: expired")
	// ErrRefreshReused: the refresh token was already rotated out (a
	// replay). RotateRefresh returns it with the family, and has ALREADY
	// revoked the family in the same transaction.
	ErrRefreshReused = errors.New("grantstore: refresh token reused")
	ErrRevoked       = errors.New("grantstore: revoked")
	// ErrMismatch: a refresh token presented by another client than its
	// family's, without the DPoP key its family is bound to, or for
	// scopes its family was not granted. RotateRefresh returns it with
	// the family and the token, and has changed nothing.
	ErrMismatch = errors.New("grantstore: refresh token presented by another client, key or for other scopes")
	// ErrUsed: the pushed authorization request was used before.
	ErrUsed = errors.New("grantstore: pushed request already used")
)

// ReasonRefreshReuse is the RevokeReason RotateRefresh gives a family when
// one of its rotated-out tokens is presented again.
const ReasonRefreshReuse = "refresh_token_reuse"

// HashSize is the length of every stored hash: a SHA-256.
const HashSize = 32

// Code is an authorization code, stored only as the SHA-256 of the code.
type Code struct {
	Hash        []byte // 32 bytes, primary key
	ClientID    string
	RedirectURI string
	Challenge   string // the S256 code_challenge (43 chars)
	UserID      string
	Scopes      []string
	Resources   []string // RFC 8707 resource indicators requested, may be empty
	// FamilyID is the refresh-token family (grant id) the redemption
	// creates; chosen at issue time, so a replay can revoke it without
	// another write.
	FamilyID   string
	AuthTime   time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time
	RedeemedAt time.Time // zero until redeemed
	// Nonce is the OpenID Connect request's nonce, byte for byte, for the
	// ID token of the redemption; empty when the request had none.
	Nonce string
	// SessionID is the sid of the login session the code was issued in
	// (OpenID Connect Front- and Back-Channel Logout); the grant keeps it.
	SessionID string
	// DPoPJKT is the dpop_jkt of the authorization request (RFC 9449
	// §10): the code may be exchanged only with a proof by that key.
	// Empty when the request had none.
	DPoPJKT string
}

// Family is one grant: the chain of refresh tokens from one authorization.
type Family struct {
	ID       string
	ClientID string
	UserID   string
	// Scopes were granted at authorization: refreshes may narrow, never
	// widen.
	Scopes       []string
	Resources    []string
	AuthTime     time.Time
	CreatedAt    time.Time
	ExpiresAt    time.Time // absolute lifetime
	RevokedAt    time.Time // zero while live
	RevokeReason string
	// SessionID is the sid of the login session the grant was made in;
	// empty for grants from before sessions had one.
	SessionID string
	// DPoPJKT is the thumbprint of the DPoP key a public client's refresh
	// tokens are bound to (RFC 9449 §5): a refresh needs a proof by it.
	// Empty for an unbound grant.
	DPoPJKT string
}

// Refresh is one refresh token of a family, stored as its SHA-256.
type Refresh struct {
	Hash          []byte
	FamilyID      string
	Scopes        []string // what this token grants (may be narrower than the family)
	CreatedAt     time.Time
	IdleExpiresAt time.Time // CreatedAt + idle timeout
	RotatedAt     time.Time // zero while current
}

// Presenter is who presents a refresh token for rotation: what its family
// must match.
type Presenter struct {
	// ClientID must be the family's client.
	ClientID string
	// DPoPJKT is the thumbprint of the key of the request's DPoP proof,
	// empty without one; a family bound to a key (Family.DPoPJKT) needs
	// the same.
	DPoPJKT string
}

// CodeExchange is an authorization-code exchange: what the caller expects
// the code to hold, the grant it stores for an accepted code, and the
// check that decides for a code that is not as expected.
type CodeExchange struct {
	// ClientID, RedirectURI, Challenge (the S256 of the request's
	// code_verifier) and DPoPJKT (the thumbprint of the request's proof
	// key, empty without one) are what a code matches (Matches).
	ClientID    string
	RedirectURI string
	Challenge   string
	DPoPJKT     string
	// FamilyExpiresAt is the grant's absolute expiry.
	FamilyExpiresAt time.Time
	// BindFamily binds the family to DPoPJKT (a public client's refresh
	// tokens, RFC 9449 §5).
	BindFamily bool
	// Refresh is the grant's first refresh token, nil for none: its Hash
	// and IdleExpiresAt; the rest comes from the code (Grant).
	Refresh *Refresh
	// Check is the caller's whole check of a code: nil to accept it, or
	// the refusal. It must accept every code that Matches the exchange.
	Check func(Code) error
}

// Matches tells whether c is the code x expects: x's client, redirect URI
// and challenge, and no DPoP key or x's. Every such code passes x.Check.
func (x *CodeExchange) Matches(c Code) bool {
	return c.ClientID == x.ClientID && c.RedirectURI == x.RedirectURI && c.Challenge == x.Challenge && // not-secret: public values, and the challenge is a hash
		(c.DPoPJKT == "" || c.DPoPJKT == x.DPoPJKT) // not-secret: key thumbprints are public
}

// Grant is the family and first refresh token (nil for none) the exchange
// of c at now stores: the code's grant, from now until FamilyExpiresAt.
func (x *CodeExchange) Grant(c Code, now time.Time) (Family, *Refresh) {
	f := Family{
		ID: c.FamilyID, ClientID: c.ClientID, UserID: c.UserID, Scopes: c.Scopes, Resources: c.Resources,
		AuthTime: c.AuthTime, CreatedAt: now, ExpiresAt: x.FamilyExpiresAt, SessionID: c.SessionID,
	}
	if x.BindFamily {
		f.DPoPJKT = x.DPoPJKT
	}
	if x.Refresh == nil {
		return f, nil
	}
	idle := x.Refresh.IdleExpiresAt
	if f.ExpiresAt.Before(idle) {
		idle = f.ExpiresAt
	}
	return f, &Refresh{Hash: x.Refresh.Hash, FamilyID: f.ID, Scopes: c.Scopes, CreatedAt: now, IdleExpiresAt: idle}
}

// Session is a browser login session (single sign-on), stored as the
// SHA-256 of the cookie value.
type Session struct {
	Hash      []byte
	UserID    string
	AuthTime  time.Time
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt time.Time
}

// PushedRequest is an authorization request pushed to /oauth2/par (RFC
// 9126), stored as the SHA-256 of its request_uri's random part.
type PushedRequest struct {
	Hash     []byte
	ClientID string
	// Params are the validated authorization parameters, form-encoded,
	// without the client's credentials.
	Params    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when a code was issued for it; zero until then.
	UsedAt time.Time
}

// Store is what the token service needs from storage. Every method is
// atomic and safe for concurrent use, also by several processes sharing the
// database. Records come back with times in UTC truncated to the
// microsecond, zero times (not redeemed, not revoked...) still zero, and
// lists never nil: nil and empty are stored alike. Writes refuse a hash
// that is not HashSize bytes long.
type Store interface {
	// CreateCode stores a new code; ErrExists on a duplicate hash.
	CreateCode(ctx context.Context, c Code) error
	// RedeemCode atomically marks the code redeemed at now and returns
	// it. Exactly one of any number of concurrent redemptions succeeds.
	// Unknown: ErrNotFound. Already redeemed (expired or not): the code
	// and ErrCodeRedeemed. Expired (ExpiresAt <= now, not yet redeemed):
	// ErrExpired, and it is not marked.
	RedeemCode(ctx context.Context, hash []byte, now time.Time) (Code, error)
	// ExchangeCode is RedeemCode that also stores the grant the code
	// creates, in the same transaction: when x accepts the code (x.Check
	// returns nil), x.Grant(code, now) is stored with the redemption, all
	// or nothing, as CreateFamily would store it. Of any number of
	// concurrent exchanges of one code, exactly one stores a grant; the
	// others get ErrCodeRedeemed after it committed, so they find its
	// family. A refusal from x.Check (wrong verifier, another client) leaves
	// the code redeemed, stores no family and is returned unchanged. A
	// store may accept a code that matches x (CodeExchange.Matches)
	// without calling x.Check, so it can exchange in one statement.
	ExchangeCode(ctx context.Context, hash []byte, now time.Time, x *CodeExchange) (Code, error)

	// CreateFamily stores a new family with its first refresh token (rt
	// may be nil: a grant with no refresh token still records the family
	// so its access tokens can be revoked by family id). rt.FamilyID must
	// be f.ID. ErrExists when the family id or the token hash is taken.
	CreateFamily(ctx context.Context, f Family, rt *Refresh) error
	// RotateRefresh, atomically, looks up the token by hash (ErrNotFound)
	// and its family, then:
	//   - the family's client is not by.ClientID, the family is bound to
	//     a DPoP key other than by.DPoPJKT, or next.Scopes are not all
	//     among the family's: ErrMismatch, and nothing changes (another
	//     client cannot revoke a grant by replaying its token);
	//   - the token was already rotated (a replay): revokes the family
	//     (RevokedAt = now, reason ReasonRefreshReuse; a family already
	//     revoked keeps its first time and reason) and returns
	//     ErrRefreshReused;
	//   - the family is revoked: ErrRevoked;
	//   - the family's ExpiresAt <= now or the token's IdleExpiresAt <=
	//     now: ErrExpired;
	//   - otherwise it marks the old token RotatedAt = now, inserts next
	//     (ErrExists if its hash is taken) and returns the family and the
	//     old token.
	// next is completed from the family: an empty FamilyID is the
	// family's (another is an error), empty Scopes are the old token's,
	// and IdleExpiresAt is capped at the family's ExpiresAt.
	// With ErrMismatch, ErrRefreshReused, ErrRevoked and ErrExpired it also
	// returns the family and the old token as they are after the call.
	// The reuse check comes before the family's state so that every
	// replay is reported as one: of concurrent rotations of one token
	// exactly one succeeds and all the others get ErrRefreshReused, the
	// family ending revoked.
	RotateRefresh(ctx context.Context, oldHash []byte, by Presenter, next Refresh, now time.Time) (Family, Refresh, error)
	// GetRefresh returns a token and its family (ErrNotFound), whatever
	// their state (for RFC 7009 revocation).
	GetRefresh(ctx context.Context, hash []byte) (Refresh, Family, error)
	// GetFamily returns a family (ErrNotFound), whatever its state.
	GetFamily(ctx context.Context, id string) (Family, error)
	// RevokeFamily marks the family revoked and returns it (idempotent: a
	// second call keeps the first time and reason; ErrNotFound when
	// unknown).
	RevokeFamily(ctx context.Context, id, reason string, now time.Time) (Family, error)
	// RevokeFamilies is RevokeFamily for many families at once (a page of
	// the revocation list): it revokes those of ids that exist and are
	// live, leaves the others as they are (a revoked family keeps its
	// first time and reason; unknown ids are no error), and returns how
	// many it revoked.
	RevokeFamilies(ctx context.Context, ids []string, reason string, now time.Time) (int64, error)
	// RevokeUserFamilies revokes every live (not yet revoked) family of a
	// user issued at or before 'before' (CreatedAt <= before), returning
	// the families it revoked (for publishing their revocations), ordered
	// by CreatedAt then ID. Expired families are revoked too: access
	// tokens issued just before the family expired can outlive it.
	RevokeUserFamilies(ctx context.Context, userID, reason string, before, now time.Time) ([]Family, error)
	// RevokeClientFamilies is RevokeUserFamilies for a client.
	RevokeClientFamilies(ctx context.Context, clientID, reason string, before, now time.Time) ([]Family, error)
	// RevokeSessionFamilies is RevokeUserFamilies for the grants made in
	// one login session (Family.SessionID, never empty here): what a
	// logout of that session ends.
	RevokeSessionFamilies(ctx context.Context, sessionID, reason string, before, now time.Time) ([]Family, error)

	// CreateSession stores a new session; ErrExists on a duplicate hash.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session (ErrNotFound), whatever its state.
	GetSession(ctx context.Context, hash []byte) (Session, error)
	// ReauthenticateSession records a new sign-in of the session's user at
	// authTime: the session, its sid and its grants stay, its AuthTime
	// moves. ErrNotFound when the session is unknown, revoked or expired at
	// authTime.
	ReauthenticateSession(ctx context.Context, hash []byte, authTime time.Time) error
	// RevokeSession marks the session revoked at now (idempotent: a second
	// call keeps the first time; ErrNotFound when unknown).
	RevokeSession(ctx context.Context, hash []byte, now time.Time) error
	// RevokeUserSessions revokes the user's sessions created at or before
	// 'before' that are neither revoked nor expired at now, and returns how
	// many it revoked. 'before' lets a revocation replayed later (a
	// follower re-loading the list) spare the sessions started since.
	RevokeUserSessions(ctx context.Context, userID string, before, now time.Time) (int64, error)

	// CreatePushedRequest stores a pushed authorization request; ErrExists
	// on a duplicate hash.
	CreatePushedRequest(ctx context.Context, p PushedRequest) error
	// GetPushedRequest returns the request (ErrNotFound), used or not,
	// expired or not: the caller judges.
	GetPushedRequest(ctx context.Context, hash []byte) (PushedRequest, error)
	// UsePushedRequest marks the request used at now, once: ErrNotFound
	// when unknown, ErrUsed when it was used before (of concurrent calls,
	// exactly one succeeds).
	UsePushedRequest(ctx context.Context, hash []byte, now time.Time) error

	// DeleteExpired deletes, all with expiry <= now - keep: codes
	// (redeemed or not), families with their refresh tokens, sessions,
	// and pushed authorization requests. keep (>= 0) lets replays of recently expired things still
	// be recognised; the caller passes e.g. 24h. Returns the rows deleted,
	// refresh tokens included.
	DeleteExpired(ctx context.Context, now time.Time, keep time.Duration) (int64, error)
}
