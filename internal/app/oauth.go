package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"github.com/gatehouse-dev/gatehouse/services/token/grantstore"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// startKeys loads the key-encryption key, starts the key manager (which
// decrypts the active key, failing on a wrong KEK) and follows rotations
// made by other replicas.
func startKeys(ctx context.Context, cfg *config.Config, log *slog.Logger, nc *nats.Conn, store keys.Store, revoker keys.Revoker) (*keys.Manager, func(), error) {
	k, created, err := kek.Load(cfg.KEKFile, cfg.KEK, cfg.DataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if k.IsDefault() {
		log.Warn("signing keys are encrypted with a key-encryption key generated in the data directory; production should supply its own with --kek-file or GATEHOUSE_KEK",
			"kek", k.Source(), "created", created)
	}
	m, err := keys.New(store, k,
		keys.WithAlgorithm(cfg.SigningAlg),
		keys.WithRotationInterval(cfg.KeyRotationInterval),
		keys.WithPublishLead(cfg.KeyPublishLead),
		keys.WithJWKSMaxAge(cfg.JWKSMaxAge),
		keys.WithPublisher(events.NewPublisher(nc)),
		keys.WithRevoker(revoker),
		keys.WithLogger(log.With("service", "keys")))
	if err != nil {
		return nil, nil, fmt.Errorf("key manager: %w", err)
	}
	if err := m.Start(ctx); err != nil {
		return nil, nil, err
	}
	// Another replica's rotation reaches this one over NATS; the manager
	// also polls the store, so a lost event only delays it.
	stop, err := authn.Follow(ctx, nc, events.SubjectKeys, func([]byte) { m.Notify() })
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("follow key rotations: %w", err)
	}
	return m, func() { stop(); m.Close() }, nil
}

// jwksOf serves the validators the key manager's JWKS directly: the
// all-in-one process needs no HTTP round trip to itself.
func jwksOf(m *keys.Manager) authn.JWKSSource {
	return authn.JWKSFunc(func(context.Context) ([]byte, error) {
		body, _, _ := m.JWKS()
		if len(body) == 0 {
			return nil, errors.New("no signing keys yet")
		}
		return body, nil
	})
}

// introspector validates tokens for any audience, as introspection must.
type introspector struct{ v *authn.JWTAuthenticator }

func (i introspector) VerifyAccessToken(ctx context.Context, tok string) (token.Claims, error) {
	c, err := i.v.Verify(ctx, tok)
	if err != nil {
		return token.Claims{}, err
	}
	return token.Claims{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience, ClientID: c.ClientID,
		Scope: c.Scope, JTI: c.JTI, IssuedAt: c.IssuedAt, NotBefore: c.NotBefore, Expiry: c.ExpiresAt,
		CertThumbprint: c.CnfX5tS256, DPoPJKT: c.CnfJKT,
	}, nil
}

// userLogins checks passwords for the login page with the user service.
type userLogins struct{ s *users.Service }

func (u userLogins) Authenticate(ctx context.Context, email, password string) (token.User, error) {
	usr, err := u.s.Authenticate(ctx, email, password)
	if errors.Is(err, users.ErrInvalidCredentials) {
		return token.User{}, token.ErrInvalidLogin
	}
	if err != nil {
		return token.User{}, err
	}
	return token.User{ID: usr.ID, Email: usr.Email}, nil
}

// Claims reads what the ID token and UserInfo may say of a user.
func (u userLogins) Claims(ctx context.Context, id string) (token.UserClaims, error) {
	usr, err := u.s.Lookup(ctx, id)
	if errors.Is(err, users.ErrNotFound) {
		return token.UserClaims{}, token.ErrUnknownUser
	}
	if err != nil {
		return token.UserClaims{}, err
	}
	return token.UserClaims{
		Email: usr.Email, EmailVerified: usr.EmailVerified, Name: usr.Name, GivenName: usr.GivenName,
		FamilyName: usr.FamilyName, PreferredUsername: usr.PreferredUsername, Locale: usr.Locale,
		UpdatedAt: usr.UpdatedAt, Disabled: usr.Disabled,
	}, nil
}

// newTokenService starts the token service over the process's keys (its
// key manager, or the key service's replicas), the registry, the revocation
// list (revoker records, revs is followed) and the grant store.
func newTokenService(ctx context.Context, cfg *config.Config, issuer string, log *slog.Logger, nc *nats.Conn,
	metrics prometheus.Registerer, keys keySource, a *auth, registry token.Clients, revoker token.Revoker, revs *revocations, grants grantstore.Store, logins token.Users, mt *mtlsListener) (*token.Service, func(), error) {
	verify := authn.NewJWTAuthenticator(keys,
		authn.WithIssuer(issuer),
		authn.WithAnyAudience(),
		// Introspection says active:false for a revoked token, and for
		// every token while the list cannot be trusted.
		authn.WithRevocationList(revs.follower),
		authn.WithClockSkew(cfg.ClockSkew),
		authn.WithJWKSMaxAge(cfg.JWKSMaxAge),
		authn.WithJWTLogger(log))
	stopVerify, err := verify.FollowKeyRotations(ctx, nc)
	if err != nil {
		return nil, nil, fmt.Errorf("follow key rotations: %w", err)
	}
	var certs token.CertVerifier
	var mtlsBase string
	if mt != nil {
		certs, mtlsBase = mt.trust, mt.base()
	}
	deviceKey, err := deviceCookieKey(cfg, log)
	if err != nil {
		stopVerify()
		return nil, nil, err
	}
	svc, err := token.New(token.Config{
		Issuer:          issuer,
		DefaultAudience: cfg.DefaultAudience,
		ClockSkew:       cfg.ClockSkew,
		DPoPAlgorithms:  cfg.DPoPAlgorithms,
		DPoPWindow:      cfg.DPoPWindow,
		DPoPNoNonce:     !cfg.DPoPTokenNonce,
		RequirePAR:      cfg.RequirePAR,
		Logger:          log.With("service", "token"),
		Audit:           a.recorder,
		Metrics:         metrics,
		Limiter:         token.NewLimiter(clientTiers(cfg)),
		RemoteIP:        func(r *http.Request) string { return authn.ClientIP(r, cfg.TrustedProxies) },
		Revoker:         revoker,
		Grants:          grants,
		Users:           logins,
		RefreshLifetime: cfg.RefreshTokenLifetime,
		RefreshIdle:     cfg.RefreshTokenIdle,
		SessionLifetime: cfg.SessionLifetime,
		IDTokenLifetime: cfg.IDTokenLifetime,
		SigningAlg:      cfg.SigningAlg,
		KeySet:          keys,
		DeviceKey:       deviceKey,
		ClientCerts:     certs,
		MTLSBase:        mtlsBase,
	}, registry, keys, introspector{verify})
	if err != nil {
		stopVerify()
		return nil, nil, fmt.Errorf("token service: %w", err)
	}
	stopClients, err := svc.FollowClientChanges(ctx, nc)
	if err != nil {
		stopVerify()
		return nil, nil, fmt.Errorf("token service: %w", err)
	}
	// In-process validators learn of a key change at once.
	keys.OnChange(func() {
		go func() {
			_ = verify.Refresh(context.Background())
			if a.jwt != nil {
				_ = a.jwt.Refresh(context.Background())
			}
		}()
	})
	stopCleanup := cleanGrants(ctx, log, grants)
	return svc, func() { stopCleanup(); stopClients(); stopVerify(); svc.Close() }, nil
}

// deviceCookieKey is the key of the login page's device cookies:
// --device-key; else, in the all-in-one process, derived from the KEK, so it
// survives restarts; else (a split token service, which holds no KEK) a
// random key of this process, so replicas do not share device cookies.
func deviceCookieKey(cfg *config.Config, log *slog.Logger) ([]byte, error) {
	if len(cfg.DeviceKey) > 0 {
		return cfg.DeviceKey, nil
	}
	if cfg.Service == "" {
		k, _, err := kek.Load(cfg.KEKFile, cfg.KEK, cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("key-encryption key: %w", err)
		}
		return k.Derive("device cookies"), nil
	}
	log.Warn("the login page's device cookies are signed with a key of this process: set --device-key so that the token service's replicas share them")
	return nil, nil
}

// Grant clean-up: codes, refresh tokens, families and sessions are deleted
// a day after they expire (kept that long so that a replay is still
// recognised as one). Every replica may run it; deletes are idempotent.
const (
	grantCleanupEvery = 10 * time.Minute
	grantKeepExpired  = 24 * time.Hour
)

func cleanGrants(ctx context.Context, log *slog.Logger, grants grantstore.Store) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(grantCleanupEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if n, err := grants.DeleteExpired(ctx, time.Now(), grantKeepExpired); err != nil {
					log.Warn("grant clean-up failed", "error", err)
				} else if n > 0 {
					log.Debug("grant clean-up", "deleted", n)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
