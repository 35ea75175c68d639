package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// clientColumns is what scanClient reads, followed by the client's sorted
// scopes (Store.selectClient), so that a client is read in one statement:
// one snapshot.
const clientColumns = `
	c.client_id, c.name, c.type, c.public, c.auth_method,
	c.redirect_uris, c.grant_types,
	c.tls_subject_dn, c.tls_san_dns, c.tls_san_uri, c.tls_san_ip, c.tls_san_email,
	c.tls_cert_thumbprints, c.bound_access_tokens,
	c.access_token_lifetime_ms, c.rate_limit_tier, c.disabled, c.require_consent,
	c.created_at, c.updated_at, c.resources, c.refresh_token_delivery,
	c.post_logout_redirect_uris, c.backchannel_logout_uri, c.backchannel_logout_session_required,
	c.id_token_lifetime_ms, c.dpop_bound_access_tokens, c.require_pushed_authorization_requests`

func scanClient(row database.Row) (clients.Client, error) {
	var (
		c            clients.Client
		typ          string
		lifetimeMS   int64
		idLifetimeMS int64
	)
	err := row.Scan(
		&c.ID, &c.Name, &typ, &c.Public, &c.AuthMethod,
		&c.RedirectURIs, &c.GrantTypes,
		&c.TLS.SubjectDN, &c.TLS.SANDNS, &c.TLS.SANURI, &c.TLS.SANIP, &c.TLS.SANEmail,
		&c.TLS.CertificateThumbprints, &c.TLS.BoundAccessTokens,
		&lifetimeMS, &c.RateLimitTier, &c.Disabled, &c.RequireConsent,
		&c.CreatedAt, &c.UpdatedAt, &c.Resources, &c.RefreshTokenDelivery,
		&c.PostLogoutRedirectURIs, &c.BackchannelLogoutURI, &c.BackchannelLogoutSessionRequired,
		&idLifetimeMS, &c.DPoPBoundAccessTokens, &c.RequirePushedAuthorizationRequests,
		&c.Scopes,
	)
	if err != nil {
		return clients.Client{}, err
	}
	c.Type = clients.ClientType(typ)
	c.AccessTokenLifetime = time.Duration(lifetimeMS) * time.Millisecond
	c.IDTokenLifetime = time.Duration(idLifetimeMS) * time.Millisecond
	return c, nil
}

// clientArgs are the values of $1 (client_id) onwards of the INSERT and
// UPDATE statements below.
func clientArgs(c clients.Client) []any {
	return []any{
		c.ID,
		c.Name, string(c.Type), c.Public, c.AuthMethod,
		c.RedirectURIs, c.GrantTypes,
		c.TLS.SubjectDN, c.TLS.SANDNS, c.TLS.SANURI, c.TLS.SANIP, c.TLS.SANEmail,
		c.TLS.CertificateThumbprints, c.TLS.BoundAccessTokens,
		c.AccessTokenLifetime.Milliseconds(), c.RateLimitTier, c.Disabled, c.RequireConsent,
		c.CreatedAt, c.UpdatedAt, c.Resources, c.RefreshTokenDelivery,
		c.PostLogoutRedirectURIs, c.BackchannelLogoutURI, c.BackchannelLogoutSessionRequired,
		c.IDTokenLifetime.Milliseconds(), c.DPoPBoundAccessTokens, c.RequirePushedAuthorizationRequests,
	}
}

// CreateClient implements clients.Store.
func (s *Store) CreateClient(ctx context.Context, c clients.Client, secret *clients.Secret, keys ...clients.APIKey) error {
	err := s.db.Tx(ctx, func(tx database.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO clients (
				client_id,
				name, type, public, auth_method,
				redirect_uris, grant_types,
				tls_subject_dn, tls_san_dns, tls_san_uri, tls_san_ip, tls_san_email,
				tls_cert_thumbprints, bound_access_tokens,
				access_token_lifetime_ms, rate_limit_tier, disabled, require_consent,
				created_at, updated_at, resources, refresh_token_delivery,
				post_logout_redirect_uris, backchannel_logout_uri, backchannel_logout_session_required,
				id_token_lifetime_ms, dpop_bound_access_tokens, require_pushed_authorization_requests
			) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
				$23, $24, $25, $26, $27, $28)`,
			clientArgs(c)...)
		if database.IsUniqueViolation(err) {
			return clients.ErrAlreadyExists
		}
		if err != nil {
			return err
		}
		if err := grantScopes(ctx, tx, "client_scopes", "client_id", c.ID, c.Scopes); err != nil {
			return err
		}
		if secret != nil {
			sec := *secret
			if err := sameOwner("secret", &sec.ClientID, c.ID); err != nil {
				return err
			}
			if err := insertSecret(ctx, tx, sec); err != nil {
				return err
			}
		}
		for _, k := range keys {
			if err := sameOwner(fmt.Sprintf("api key %q", k.KeyID), &k.ClientID, c.ID); err != nil {
				return err
			}
			if err := insertAPIKey(ctx, tx, k); err != nil {
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

func (s *Store) getClient(ctx context.Context, q database.Querier, id string) (clients.Client, error) {
	c, err := scanClient(q.QueryRow(ctx, s.getClientSQL, id))
	if errors.Is(err, database.ErrNoRows) {
		return clients.Client{}, clients.ErrNotFound
	}
	return c, err
}

// GetClient implements clients.Store.
func (s *Store) GetClient(ctx context.Context, id string) (clients.Client, error) {
	c, err := s.getClient(ctx, s.db, id)
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
		rows database.Rows
		err  error
	)
	if after == nil {
		rows, err = s.db.Query(ctx, s.selectClient+`ORDER BY c.created_at, c.client_id LIMIT $1`, limit)
	} else {
		rows, err = s.db.Query(ctx, s.selectClient+`
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

// UpdateClient implements clients.Store. The client_id cannot change: it is
// the identity the update is for.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(*clients.Client) error) (clients.Client, error) {
	return readModifyWrite(ctx, s, s.lockClientSQL, id, fmt.Sprintf("client %q", id), s.getClient, update,
		func(tx database.Tx, _, c clients.Client) error {
			if c.ID != id {
				return fmt.Errorf("the update changed the client ID to %q", c.ID)
			}
			_, err := tx.Exec(ctx, `
				UPDATE clients SET
					name = $2, type = $3, public = $4, auth_method = $5,
					redirect_uris = $6, grant_types = $7,
					tls_subject_dn = $8, tls_san_dns = $9, tls_san_uri = $10, tls_san_ip = $11, tls_san_email = $12,
					tls_cert_thumbprints = $13, bound_access_tokens = $14,
					access_token_lifetime_ms = $15, rate_limit_tier = $16, disabled = $17, require_consent = $18,
					created_at = $19, updated_at = $20, resources = $21, refresh_token_delivery = $22,
					post_logout_redirect_uris = $23, backchannel_logout_uri = $24, backchannel_logout_session_required = $25,
					id_token_lifetime_ms = $26, dpop_bound_access_tokens = $27,
					require_pushed_authorization_requests = $28
				WHERE client_id = $1`,
				clientArgs(c)...)
			if err != nil {
				return err
			}
			return replaceScopes(ctx, tx, "client_scopes", "client_id", id, c.Scopes)
		})
}

// DeleteClient implements clients.Store; the schema cascades to the client's
// scopes, secrets and API keys.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := s.db.Exec(ctx, `DELETE FROM clients WHERE client_id = $1`, id)
	if err != nil {
		return fmt.Errorf("clients: delete client %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("clients: delete client %q: %w", id, clients.ErrNotFound)
	}
	return nil
}
