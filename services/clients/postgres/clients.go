package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// clientColumns is what scanClient reads, scopes included so that a client
// is read in one statement (one snapshot).
const clientColumns = `
	c.client_id, c.name, c.type, c.public, c.auth_method,
	c.redirect_uris, c.grant_types,
	c.tls_subject_dn, c.tls_san_dns, c.tls_san_uri, c.tls_san_ip, c.tls_san_email,
	c.tls_cert_thumbprints, c.bound_access_tokens,
	c.access_token_lifetime_ms, c.rate_limit_tier, c.disabled, c.require_consent,
	c.created_at, c.updated_at, c.resources, c.refresh_token_delivery,
	ARRAY(SELECT cs.scope FROM client_scopes cs WHERE cs.client_id = c.client_id ORDER BY cs.scope)`

func scanClient(row pgx.Row) (clients.Client, error) {
	var (
		c          clients.Client
		typ        string
		lifetimeMS int64
	)
	err := row.Scan(
		&c.ID, &c.Name, &typ, &c.Public, &c.AuthMethod,
		&c.RedirectURIs, &c.GrantTypes,
		&c.TLS.SubjectDN, &c.TLS.SANDNS, &c.TLS.SANURI, &c.TLS.SANIP, &c.TLS.SANEmail,
		&c.TLS.CertificateThumbprints, &c.TLS.BoundAccessTokens,
		&lifetimeMS, &c.RateLimitTier, &c.Disabled, &c.RequireConsent,
		&c.CreatedAt, &c.UpdatedAt, &c.Resources, &c.RefreshTokenDelivery,
		&c.Scopes,
	)
	if err != nil {
		return clients.Client{}, err
	}
	c.Type = clients.ClientType(typ)
	// Callers get the same empty slice whether nil or empty was stored.
	c.RedirectURIs, c.GrantTypes, c.Scopes = list(c.RedirectURIs), list(c.GrantTypes), list(c.Scopes)
	c.Resources = list(c.Resources)
	c.TLS.CertificateThumbprints = list(c.TLS.CertificateThumbprints)
	c.AccessTokenLifetime = time.Duration(lifetimeMS) * time.Millisecond
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return c, nil
}

// clientArgs are the values of columns $2 onwards of the INSERT and UPDATE
// statements below; $1 is client_id.
func clientArgs(c clients.Client) []any {
	return []any{
		c.Name, string(c.Type), c.Public, c.AuthMethod,
		list(c.RedirectURIs), list(c.GrantTypes),
		c.TLS.SubjectDN, c.TLS.SANDNS, c.TLS.SANURI, c.TLS.SANIP, c.TLS.SANEmail,
		list(c.TLS.CertificateThumbprints), c.TLS.BoundAccessTokens,
		c.AccessTokenLifetime.Milliseconds(), c.RateLimitTier, c.Disabled, c.RequireConsent,
		c.CreatedAt, c.UpdatedAt, list(c.Resources), c.RefreshTokenDelivery,
	}
}

// CreateClient implements clients.Store.
func (s *Store) CreateClient(ctx context.Context, c clients.Client, secret *clients.Secret, keys ...clients.APIKey) error {
	err := s.tx(ctx, func(q querier) error {
		_, err := q.Exec(ctx, `
			INSERT INTO clients (
				client_id,
				name, type, public, auth_method,
				redirect_uris, grant_types,
				tls_subject_dn, tls_san_dns, tls_san_uri, tls_san_ip, tls_san_email,
				tls_cert_thumbprints, bound_access_tokens,
				access_token_lifetime_ms, rate_limit_tier, disabled, require_consent,
				created_at, updated_at, resources, refresh_token_delivery
			) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
			append([]any{c.ID}, clientArgs(c)...)...)
		if database.IsUniqueViolation(err) {
			return clients.ErrAlreadyExists
		}
		if err != nil {
			return err
		}
		if err := grantScopes(ctx, q, "client_scopes", "client_id", c.ID, c.Scopes); err != nil {
			return err
		}
		if secret != nil {
			sec := *secret
			if err := sameOwner("secret", &sec.ClientID, c.ID); err != nil {
				return err
			}
			if err := insertSecret(ctx, q, sec); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := sameOwner(fmt.Sprintf("api key %q", k.KeyID), &k.ClientID, c.ID); err != nil {
				return err
			}
			if err := insertAPIKey(ctx, q, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("clients: create client %q: %w", c.ID, err)
	}
	return nil
}

func getClient(ctx context.Context, q querier, id string) (clients.Client, error) {
	c, err := scanClient(q.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients c WHERE c.client_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return clients.Client{}, clients.ErrNotFound
	}
	return c, err
}

// GetClient implements clients.Store.
func (s *Store) GetClient(ctx context.Context, id string) (clients.Client, error) {
	c, err := getClient(ctx, s.pool, id)
	if err != nil {
		return clients.Client{}, fmt.Errorf("clients: get client %q: %w", id, err)
	}
	return c, nil
}

// ListClients implements clients.Store. A limit below 1 is an error rather
// than "everything", so a caller's missing page size cannot turn into a full
// table scan.
func (s *Store) ListClients(ctx context.Context, after *clients.ClientCursor, limit int) ([]clients.Client, error) {
	if limit < 1 {
		return nil, fmt.Errorf("clients: list clients: limit %d, want at least 1", limit)
	}
	var (
		rows pgx.Rows
		err  error
	)
	if after == nil {
		rows, err = s.pool.Query(ctx, `
			SELECT `+clientColumns+` FROM clients c
			ORDER BY c.created_at, c.client_id LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, `
			SELECT `+clientColumns+` FROM clients c
			WHERE (c.created_at, c.client_id) > ($1, $2)
			ORDER BY c.created_at, c.client_id LIMIT $3`, after.CreatedAt, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("clients: list clients: %w", err)
	}
	defer rows.Close()
	out := []clients.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, fmt.Errorf("clients: list clients: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("clients: list clients: %w", err)
	}
	return out, nil
}

// lockClient takes the row lock that serialises writers of one client. FOR
// NO KEY UPDATE, not FOR UPDATE: it still excludes other updaters but lets
// inserts of the client's secrets and keys (whose foreign-key checks take
// KEY SHARE) proceed.
func lockClient(ctx context.Context, q querier, id string) error {
	var one int
	err := q.QueryRow(ctx, `SELECT 1 FROM clients WHERE client_id = $1 FOR NO KEY UPDATE`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return clients.ErrNotFound
	}
	return err
}

// UpdateClient implements clients.Store. The client_id cannot change: it is
// the identity the update is for.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(*clients.Client) error) (clients.Client, error) {
	var (
		out       clients.Client
		updateErr error
	)
	err := s.tx(ctx, func(q querier) error {
		if err := lockClient(ctx, q, id); err != nil {
			return err
		}
		// Read after the lock, in a new statement: under READ COMMITTED it
		// sees what the previous lock holder committed, including its
		// client_scopes rows, which a subquery of the locking statement
		// would not.
		c, err := getClient(ctx, q, id)
		if err != nil {
			return err
		}
		if err := update(&c); err != nil {
			updateErr = err
			return err
		}
		if c.ID != id {
			return fmt.Errorf("the update changed the client ID to %q", c.ID)
		}
		_, err = q.Exec(ctx, `
			UPDATE clients SET
				name = $2, type = $3, public = $4, auth_method = $5,
				redirect_uris = $6, grant_types = $7,
				tls_subject_dn = $8, tls_san_dns = $9, tls_san_uri = $10, tls_san_ip = $11, tls_san_email = $12,
				tls_cert_thumbprints = $13, bound_access_tokens = $14,
				access_token_lifetime_ms = $15, rate_limit_tier = $16, disabled = $17, require_consent = $18,
				created_at = $19, updated_at = $20, resources = $21, refresh_token_delivery = $22
			WHERE client_id = $1`,
			append([]any{id}, clientArgs(c)...)...)
		if err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM client_scopes WHERE client_id = $1`, id); err != nil {
			return err
		}
		if err := grantScopes(ctx, q, "client_scopes", "client_id", id, c.Scopes); err != nil {
			return err
		}
		// Read back what was stored (UTC, microseconds, sorted scopes) so
		// the result equals what GetClient will return.
		out, err = getClient(ctx, q, id)
		return err
	})
	if updateErr != nil {
		return clients.Client{}, updateErr
	}
	if err != nil {
		return clients.Client{}, fmt.Errorf("clients: update client %q: %w", id, err)
	}
	return out, nil
}

// DeleteClient implements clients.Store; the schema cascades to the client's
// scopes, secrets and API keys.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM clients WHERE client_id = $1`, id)
	if err != nil {
		return fmt.Errorf("clients: delete client %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("clients: delete client %q: %w", id, clients.ErrNotFound)
	}
	return nil
}
