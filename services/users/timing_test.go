package users

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// memStore is the smallest Store Authenticate needs: one user.
type memStore struct {
	Store
	u User
}

func (m *memStore) GetByEmail(_ context.Context, email string) (User, error) {
	if email == m.u.Email {
		return m.u, nil
	}
	return User{}, ErrNotFound
}

// TestAuthenticateUnknownEmailCostsAVerification checks that refusing an
// unknown email takes about as long as refusing a wrong password: both run
// argon2id once. With parameters costing milliseconds, skipping the hash
// would be orders of magnitude faster.
func TestAuthenticateUnknownEmailCostsAVerification(t *testing.T) {
	p := Params{Memory: 4 * 1024, Iterations: 4, Parallelism: 1, SaltLength: 16, KeyLength: 32}
	hash, err := p.Hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	s := New(&memStore{u: User{ID: "u_a", Email: "ann@example.com", PasswordHash: hash}}, WithParams(p))
	median := func(email string) time.Duration {
		var ds []time.Duration
		for range 7 {
			start := time.Now()
			if _, err := s.Authenticate(t.Context(), email, "wrong password!"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%s) = %v", email, err)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	known, unknown, malformed := median("ann@example.com"), median("nobody@example.com"), median("nobody")
	t.Logf("wrong password %v, unknown email %v, malformed email %v", known, unknown, malformed)
	for name, d := range map[string]time.Duration{"unknown": unknown, "malformed": malformed} {
		if d < known/3 {
			t.Errorf("%s email refused in %v, a wrong password in %v: the unknown path skips the hash", name, d, known)
		}
	}
}
