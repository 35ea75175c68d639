package scalerun

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
)

// DatabasePrefix starts the name of every database the run may drop and
// create: a mistyped --database-url cannot name one that matters.
const DatabasePrefix = "gatehouse_scale"

// checkDatabaseURL refuses a database the run must not drop, or one off
// this machine.
func checkDatabaseURL(raw string) (*url.URL, string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, "", fmt.Errorf("scalerun: database URL %q: want postgres://user@host:port/%s<suffix>", raw, DatabasePrefix)
	}
	if !loopback.Host(u.Hostname()) {
		return nil, "", fmt.Errorf("scalerun: database URL %q: the scale run only uses a PostgreSQL on a loopback address", raw)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !strings.HasPrefix(name, DatabasePrefix) || strings.ContainsAny(name, `"/`) {
		return nil, "", fmt.Errorf("scalerun: database %q: its name must start with %q (the run drops and creates it)", name, DatabasePrefix)
	}
	return u, name, nil
}

// recreateDatabase drops the run's database, if it is there, and creates
// it empty, through the server's maintenance database.
func recreateDatabase(ctx context.Context, dbURL string) error {
	u, name, err := checkDatabaseURL(dbURL)
	if err != nil {
		return err
	}
	if err := dropDatabase(ctx, dbURL); err != nil {
		return err
	}
	conn, err := maintenance(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do with it
	if _, err := conn.Exec(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return fmt.Errorf("scalerun: create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops the run's database, closing whatever is still
// connected to it.
func dropDatabase(ctx context.Context, dbURL string) error {
	u, name, err := checkDatabaseURL(dbURL)
	if err != nil {
		return err
	}
	conn, err := maintenance(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // nothing left to do with it
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`); err != nil {
		return fmt.Errorf("scalerun: drop database %s: %w", name, err)
	}
	return nil
}

func maintenance(ctx context.Context, u *url.URL) (*pgx.Conn, error) {
	m := *u
	m.Path = "/postgres"
	conn, err := pgx.Connect(ctx, m.String())
	if err != nil {
		return nil, fmt.Errorf("scalerun: connect to PostgreSQL at %s: %w", u.Host, err)
	}
	return conn, nil
}

// samples is what the measurements need of the loaded rows: raw API keys
// (only their hashes are stored) of every stride-th client.
type samples struct {
	stride  int
	apiKeys []string
}

// copyTable streams n rows made by row into table.
func copyTable(ctx context.Context, pool *pgxpool.Pool, table string, cols []string, n int, row func(i int) ([]any, error)) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("scalerun: copy into %s: %w", table, err)
	}
	defer conn.Release()
	// The rows are made consistent (every key's client, every grant's
	// scope exists); skipping the foreign-key triggers for this session
	// only keeps a million checks out of the load. It needs a superuser:
	// without one the checks run, and the load is slower, not wrong.
	_, _ = conn.Exec(ctx, `SET session_replication_role = replica`)
	defer conn.Exec(context.WithoutCancel(ctx), `RESET session_replication_role`) //nolint:errcheck // the connection is reset on release anyway
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		r, err := row(i)
		i++
		return r, err
	})
	got, err := conn.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, src)
	if err != nil {
		return fmt.Errorf("scalerun: copy into %s: %w", table, err)
	}
	if got != int64(n) {
		return fmt.Errorf("scalerun: copy into %s: %d rows of %d", table, got, n)
	}
	return nil
}

// The columns of each table, in the order of the values below; the stores'
// INSERTs name the same ones (TestLoadedRowsReadBackThroughTheStores).
var (
	clientCols = []string{
		"client_id", "name", "type", "public", "auth_method",
		"redirect_uris", "grant_types",
		"tls_subject_dn", "tls_san_dns", "tls_san_uri", "tls_san_ip", "tls_san_email",
		"tls_cert_thumbprints", "bound_access_tokens",
		"access_token_lifetime_ms", "rate_limit_tier", "disabled", "require_consent",
		"created_at", "updated_at", "resources", "refresh_token_delivery",
		"post_logout_redirect_uris", "backchannel_logout_uri", "backchannel_logout_session_required",
		"id_token_lifetime_ms", "dpop_bound_access_tokens", "require_pushed_authorization_requests",
	}
	secretCols   = []string{"client_id", "hash", "created_at", "expires_at"}
	grantCols    = []string{"client_id", "scope"}
	apiKeyCols   = []string{"key_id", "client_id", "secret_hash", "description", "expires_at", "created_at", "last_used_at", "revoked", "revoked_at", "replaced_by"}
	keyScopeCols = []string{"key_id", "scope"}
	userCols     = []string{
		"user_id", "email", "password_hash", "disabled", "created_at", "updated_at",
		"name", "given_name", "family_name", "preferred_username", "locale", "email_verified",
	}
	revocationCols = []string{"seq", "kind", "id", "reason", "revoked_at", "expires_at", "published"}
)

// nullTime is what the stores write for an unset time: NULL.
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// load fills the database with n clients (each with a secret and the
// example scope), n API keys (one per client), n revocations after the
// list's head, and n/10 users, and keeps raw keys of every stride-th
// client. The schema and the scope catalogue are the server's own: it
// has run once on the database before.
func load(ctx context.Context, pool *pgxpool.Pool, g *gen, n, stride int) (Load, samples, error) {
	began := time.Now()
	smp := samples{stride: stride}
	var head int64
	if err := pool.QueryRow(ctx, `SELECT seq FROM revocation_head WHERE id = 1`).Scan(&head); err != nil {
		return Load{}, smp, fmt.Errorf("scalerun: read the revocation head: %w", err)
	}
	keyIDs := make([]string, n)
	// Clients first: the others refer to them.
	err := copyTable(ctx, pool, "clients", clientCols, n, func(i int) ([]any, error) {
		c := g.Client(i)
		return []any{
			c.ID, c.Name, string(c.Type), c.Public, c.AuthMethod,
			c.RedirectURIs, c.GrantTypes,
			c.TLS.SubjectDN, c.TLS.SANDNS, c.TLS.SANURI, c.TLS.SANIP, c.TLS.SANEmail,
			c.TLS.CertificateThumbprints, c.TLS.BoundAccessTokens,
			c.AccessTokenLifetime.Milliseconds(), c.RateLimitTier, c.Disabled, c.RequireConsent,
			c.CreatedAt, c.UpdatedAt, c.Resources, c.RefreshTokenDelivery,
			c.PostLogoutRedirectURIs, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
			c.IDTokenLifetime.Milliseconds(), c.DPoPBoundAccessTokens, c.RequirePushedAuthorizationRequests,
		}, nil
	})
	if err != nil {
		return Load{}, smp, err
	}
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		return copyTable(ectx, pool, "client_secrets", secretCols, n, func(i int) ([]any, error) {
			s := g.Secret(i)
			return []any{s.ClientID, s.Hash, s.CreatedAt, nullTime(s.ExpiresAt)}, nil
		})
	})
	eg.Go(func() error {
		return copyTable(ectx, pool, "client_scopes", grantCols, n, func(i int) ([]any, error) {
			return []any{g.ClientID(i), Scope}, nil
		})
	})
	eg.Go(func() error {
		err := copyTable(ectx, pool, "api_keys", apiKeyCols, n, func(i int) ([]any, error) {
			k, raw, err := g.APIKey(i)
			if err != nil {
				return nil, err
			}
			keyIDs[i] = k.KeyID
			if i%stride == 0 {
				smp.apiKeys = append(smp.apiKeys, raw)
			}
			return []any{k.KeyID, k.ClientID, k.SecretHash, k.Description, nullTime(k.ExpiresAt), k.CreatedAt,
				nullTime(k.LastUsedAt), k.Revoked, nullTime(k.RevokedAt), k.ReplacedBy}, nil
		})
		if err != nil {
			return err
		}
		return copyTable(ectx, pool, "api_key_scopes", keyScopeCols, n, func(i int) ([]any, error) {
			return []any{keyIDs[i], Scope}, nil
		})
	})
	eg.Go(func() error {
		return copyTable(ectx, pool, "users", userCols, n/10, func(i int) ([]any, error) {
			u := g.User(i)
			return []any{u.ID, u.Email, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt,
				u.Name, u.GivenName, u.FamilyName, u.PreferredUsername, u.Locale, u.EmailVerified}, nil
		})
	})
	eg.Go(func() error {
		err := copyTable(ectx, pool, "revocations", revocationCols, n, func(i int) ([]any, error) {
			e := g.Revocation(i, head+int64(i)+1)
			// Published: these went out long ago; the outbox must not
			// replay a million events at start.
			return []any{e.Seq, int32(e.Kind), e.ID, e.Reason, e.RevokedAt, nullTime(e.ExpiresAt), true}, nil
		})
		if err != nil {
			return err
		}
		// The head is the last seq committed, as Revoke leaves it.
		if _, err := pool.Exec(ectx, `UPDATE revocation_head SET seq = $1 WHERE id = 1`, head+int64(n)); err != nil {
			return fmt.Errorf("scalerun: move the revocation head: %w", err)
		}
		return nil
	})
	if err := eg.Wait(); err != nil {
		return Load{}, smp, err
	}
	// Fresh statistics, as autovacuum would give a database that grew
	// over time, so the planner does not judge a million rows as empty.
	if _, err := pool.Exec(ctx, `ANALYZE clients, client_secrets, client_scopes, api_keys, api_key_scopes, users, revocations`); err != nil {
		return Load{}, smp, fmt.Errorf("scalerun: analyze: %w", err)
	}
	if len(smp.apiKeys) == 0 {
		return Load{}, smp, errors.New("scalerun: no API key sampled")
	}
	return Load{Clients: n, APIKeys: n, Revocations: n, Users: n / 10, Rows: 5*n + n/10, Took: time.Since(began)}, smp, nil
}
