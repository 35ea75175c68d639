package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// errorTests checks every documented sentinel through errors.Is, and that
// the error still says which call failed on what.
var errorTests = []test{
	{"sentinels for every method that documents them", func(t *testing.T, e *env) {
		e.createClient(sampleClient("c1", t0), nil, sampleKey("k1", "c1", t0, "read"))
		secret := sampleSecret("c1", t0)
		if err := e.s.RotateSecret(e.ctx, secret, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		noop := func(*clients.Client) error { return nil }
		noopKey := func(*clients.APIKey) error { return nil }
		cases := []struct {
			name    string
			call    func(ctx context.Context, s clients.Store) error
			want    error
			mention string // the error names what it is about
		}{
			{"CreateScope taken", func(ctx context.Context, s clients.Store) error {
				return s.CreateScope(ctx, clients.Scope{Name: "read", CreatedAt: t0})
			}, clients.ErrAlreadyExists, "read"},
			{"DeleteScope missing", func(ctx context.Context, s clients.Store) error {
				return s.DeleteScope(ctx, "nope")
			}, clients.ErrNotFound, "nope"},
			{"DeleteScope in use", func(ctx context.Context, s clients.Store) error {
				return s.DeleteScope(ctx, "read")
			}, clients.ErrInUse, "read"},
			{"CreateClient taken client_id", func(ctx context.Context, s clients.Store) error {
				return s.CreateClient(ctx, sampleClient("c1", t0), nil)
			}, clients.ErrAlreadyExists, "c1"},
			{"CreateClient taken key_id", func(ctx context.Context, s clients.Store) error {
				return s.CreateClient(ctx, sampleClient("c2", t0), nil, sampleKey("k1", "c2", t0))
			}, clients.ErrAlreadyExists, "k1"},
			{"GetClient missing", func(ctx context.Context, s clients.Store) error {
				_, err := s.GetClient(ctx, "nobody")
				return err
			}, clients.ErrNotFound, "nobody"},
			{"UpdateClient missing", func(ctx context.Context, s clients.Store) error {
				_, err := s.UpdateClient(ctx, "nobody", noop)
				return err
			}, clients.ErrNotFound, "nobody"},
			{"DeleteClient missing", func(ctx context.Context, s clients.Store) error {
				return s.DeleteClient(ctx, "nobody")
			}, clients.ErrNotFound, "nobody"},
			{"RotateSecret missing client", func(ctx context.Context, s clients.Store) error {
				return s.RotateSecret(ctx, sampleSecret("nobody", t0), t0)
			}, clients.ErrNotFound, "nobody"},
			{"RotateSecret taken CreatedAt", func(ctx context.Context, s clients.Store) error {
				return s.RotateSecret(ctx, sampleSecret("c1", t0), t0)
			}, clients.ErrAlreadyExists, "c1"},
			{"CreateAPIKey missing client", func(ctx context.Context, s clients.Store) error {
				return s.CreateAPIKey(ctx, sampleKey("k2", "nobody", t0))
			}, clients.ErrNotFound, "nobody"},
			{"CreateAPIKey taken key_id", func(ctx context.Context, s clients.Store) error {
				return s.CreateAPIKey(ctx, sampleKey("k1", "c1", t0))
			}, clients.ErrAlreadyExists, "k1"},
			{"GetAPIKey missing", func(ctx context.Context, s clients.Store) error {
				_, err := s.GetAPIKey(ctx, "nokey")
				return err
			}, clients.ErrNotFound, "nokey"},
			{"UpdateAPIKey missing", func(ctx context.Context, s clients.Store) error {
				_, err := s.UpdateAPIKey(ctx, "nokey", noopKey)
				return err
			}, clients.ErrNotFound, "nokey"},
			{"RotateAPIKey missing old key", func(ctx context.Context, s clients.Store) error {
				return s.RotateAPIKey(ctx, "nokey", sampleKey("k3", "c1", t0), t0)
			}, clients.ErrNotFound, "nokey"},
			{"RotateAPIKey taken next key_id", func(ctx context.Context, s clients.Store) error {
				return s.RotateAPIKey(ctx, "k1", sampleKey("k1", "c1", t0), t0)
			}, clients.ErrAlreadyExists, "k1"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call(e.ctx, e.s)
				assertErrorIs(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("error %q does not mention %q", err, tc.mention)
				}
			})
		}
	}},
}
