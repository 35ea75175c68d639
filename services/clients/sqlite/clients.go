package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/database"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// clientColumns is what scanClient reads, scopes included so that a client
// is read in one statement.
const clientColumns = `
	c.client_id, c.name, c.type, c.public, c.auth_method,
	c.redirect_uris, c.grant_types,
	c.tls_subject_dn, c.tls_san_dns, c.tls_san_uri, c.tls_san_ip, c.tls_san_email,
	c.tls_cert_thumbprints, c.bound_access_tokens,
	c.access_token_lifetime_ms, c.rate_limit_tier, c.disabled, c.require_consent,
	c.created_at, c.updated_at, c.resources, c.refresh_token_delivery,
	(SELECT json_group_array(scope ORDER BY scope) FROM client_scopes cs WHERE cs.client_id = c.client_id)`

type scanner interface{ Scan(dest ...any) error }

func scanClient(row scanner) (clients.Client, error) {
	var (
		c                                     clients.Client
		redirects, grants, thumbprints, scops string
		resources                             string
		lifetimeMS, created, updated          int64
	)
	err := row.Scan(
		&c.ID, &c.Name, &c.Type, &c.Public, &c.AuthMethod,
		&redirects, &grants,
		&c.TLS.SubjectDN, &c.TLS.SANDNS, &c.TLS.SANURI, &c.TLS.SANIP, &c.TLS.SANEmail,
		&thumbprints, &c.TLS.BoundAccessTokens,
		&lifetimeMS, &c.RateLimitTier, &c.Disabled, &c.RequireConsent,
		&created, &updated, &resources, &c.RefreshTokenDelivery,
		&scops,
	)
	if err != nil {
		return clients.Client{}, err
	}
	for _, l := range []struct {
		dst *[]string
		src string
	}{{&c.RedirectURIs, redirects}, {&c.GrantTypes, grants}, {&c.TLS.CertificateThumbprints, thumbprints}, {&c.Scopes, scops}, {&c.Resources, resources}} {
		if *l.dst, err = parseList(l.src); err != nil {
			return clients.Client{}, err
		}
	}
	c.AccessTokenLifetime = time.Duration(lifetimeMS) * time.Millisecond
	c.CreatedAt, c.UpdatedAt = database.FromMicros(created), database.FromMicros(updated)
	return c, nil
}

// clientArgs are the values of every column but client_id, in the order of
// the INSERT and UPDATE statements below.
func clientArgs(c clients.Client) ([]any, error) {
	redirects, err := jsonList(c.RedirectURIs)
	if err != nil {
		return nil, err
	}
	grants, err := jsonList(c.GrantTypes)
	if err != nil {
		return nil, err
	}
	thumbprints, err := jsonList(c.TLS.CertificateThumbprints)
	if err != nil {
		return nil, err
	}
	resources, err := jsonList(c.Resources)
	if err != nil {
		return nil, err
	}
	return []any{
		c.Name, string(c.Type), c.Public, c.AuthMethod,
		redirects, grants,
		c.TLS.SubjectDN, c.TLS.SANDNS, c.TLS.SANURI, c.TLS.SANIP, c.TLS.SANEmail,
		thumbprints, c.TLS.BoundAccessTokens,
		c.AccessTokenLifetime.Milliseconds(), c.RateLimitTier, c.Disabled, c.RequireConsent,
		database.Micros(c.CreatedAt), database.Micros(c.UpdatedAt), resources, c.RefreshTokenDelivery,
	}, nil
}

// CreateClient implements clients.Store.
func (s *Store) CreateClient(ctx context.Context, c clients.Client, secret *clients.Secret, keys ...clients.APIKey) error {
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("clients: create client %q: %w", c.ID, err)
	}
	err = s.tx(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, `
			INSERT INTO clients (
				name, type, public, auth_method,
				redirect_uris, grant_types,
				tls_subject_dn, tls_san_dns, tls_san_uri, tls_san_ip, tls_san_email,
				tls_cert_thumbprints, bound_access_tokens,
				access_token_lifetime_ms, rate_limit_tier, disabled, require_consent,
				created_at, updated_at, resources, refresh_token_delivery,
				client_id
			) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(args, c.ID)...)
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
	c, err := scanClient(q.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients c WHERE c.client_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return clients.Client{}, clients.ErrNotFound
	}
	return c, err
}

// GetClient implements clients.Store.
func (s *Store) GetClient(ctx context.Context, id string) (clients.Client, error) {
	c, err := getClient(ctx, s.db, id)
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
		rows *sql.Rows
		err  error
	)
	if after == nil {
		rows, err = s.db.QueryContext(ctx, `
			SELECT `+clientColumns+` FROM clients c
			ORDER BY c.created_at, c.client_id LIMIT ?`, limit)
	} else {
		rows, err = s.db.QueryContext(ctx, `
			SELECT `+clientColumns+` FROM clients c
			WHERE (c.created_at, c.client_id) > (?, ?)
			ORDER BY c.created_at, c.client_id LIMIT ?`, database.Micros(after.CreatedAt), after.ID, limit)
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
	var (
		out       clients.Client
		updateErr error
	)
	err := s.tx(ctx, func(q querier) error {
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
		args, err := clientArgs(c)
		if err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, `
			UPDATE clients SET
				name = ?, type = ?, public = ?, auth_method = ?,
				redirect_uris = ?, grant_types = ?,
				tls_subject_dn = ?, tls_san_dns = ?, tls_san_uri = ?, tls_san_ip = ?, tls_san_email = ?,
				tls_cert_thumbprints = ?, bound_access_tokens = ?,
				access_token_lifetime_ms = ?, rate_limit_tier = ?, disabled = ?, require_consent = ?,
				created_at = ?, updated_at = ?, resources = ?, refresh_token_delivery = ?
			WHERE client_id = ?`,
			append(args, id)...)
		if err != nil {
			return err
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM client_scopes WHERE client_id = ?`, id); err != nil {
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
	res, err := s.db.ExecContext(ctx, `DELETE FROM clients WHERE client_id = ?`, id)
	if err != nil {
		return fmt.Errorf("clients: delete client %q: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("clients: delete client %q: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("clients: delete client %q: %w", id, clients.ErrNotFound)
	}
	return nil
}
